# FTAN-B for tools/benchmark.py: the paper's model, random initialisation.
_base_ = ['../_base_/models/ftan_b.py']
model = dict(test_cfg=dict(mode='whole'))
