# ChangeFormer-V6 (the ablation baseline of FTAN) for tools/benchmark.py.
_base_ = ['../_base_/models/changeformer_v6.py']
model = dict(test_cfg=dict(mode='whole'))
