# ChangeFormer-V6 (the ablation baseline of FTAN) for tools/benchmark.py:
# MiT-like encoder with widths 64/128/320/512 and FTAN's decoder without
# the IAM, random initialisation.
_base_ = ['../_base_/models/changeformer_v6.py']
model = dict(test_cfg=dict(mode='whole'))
