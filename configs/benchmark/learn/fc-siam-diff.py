# open-cd's FC-Siam-diff, randomly initialised (the model of
# configs/benchmark/fc-siam-diff.py), on the learning recipe of
# configs/benchmark/_learning_.py. A complete config: tools/train.py and
# tools/test.py run it like any FTAN config, and `tools/benchmark.py learn`
# trains it:
#   python tools/train.py configs/benchmark/learn/fc-siam-diff.py \
#       --data-root DIR --iters N
_base_ = ['../_learning_.py', '../fc-siam-diff.py']
