# ChangeFormer-V6 (the ablation baseline of FTAN) for tools/benchmark.py.
# mmseg's MixVisionTransformer sets stage widths to embed_dims * num_heads,
# so 5 heads at stage 3 give ChangeFormer's widths 64/128/320/512 (the
# reference has 4 heads of 80 there: same parameters and FLOPs).
_base_ = ['../_base_/models/changeformer_v6.py']
model = dict(
    backbone=dict(num_heads=[1, 2, 5, 8]), test_cfg=dict(mode='whole'))
