# FTAN-S, randomly initialised (the model of configs/benchmark/ftan-s.py), on
# the learning recipe of configs/benchmark/_learning_.py. A complete config:
# tools/train.py and tools/test.py run it like any FTAN config, and
# `tools/benchmark.py learn` trains it:
#   python tools/train.py configs/benchmark/learn/ftan-s.py \
#       --data-root DIR --iters N
_base_ = ['../_learning_.py', '../ftan-s.py']
