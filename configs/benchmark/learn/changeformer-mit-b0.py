# open-cd's ChangeFormer MiT-b0, randomly initialised (the model of
# configs/benchmark/changeformer-mit-b0.py), on the learning recipe of
# configs/benchmark/_learning_.py. A complete config: tools/train.py and
# tools/test.py run it like any FTAN config, and `tools/benchmark.py learn`
# trains it:
#   python tools/train.py configs/benchmark/learn/changeformer-mit-b0.py \
#       --data-root DIR --iters N
_base_ = ['../_learning_.py', '../changeformer-mit-b0.py']
