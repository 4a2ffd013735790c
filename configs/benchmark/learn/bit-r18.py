# open-cd's BIT with a ResNet-18 backbone, randomly initialised (the model of
# configs/benchmark/bit-r18.py), on the learning recipe of
# configs/benchmark/_learning_.py. A complete config: tools/train.py and
# tools/test.py run it like any FTAN config, and `tools/benchmark.py learn`
# trains it:
#   python tools/train.py configs/benchmark/learn/bit-r18.py \
#       --data-root DIR --iters N
_base_ = ['../_learning_.py', '../bit-r18.py']
