# The ablation baseline: ChangeFormer-V6 = its MiT-like transformer encoder
# (dims 64/128/320/512, depths 3/3/4/3, heads 1/2/4/8, sr 8/4/2/1) and its
# decoder, i.e. FTANHead without the IAM. No new code: the encoder is
# mmseg's MixVisionTransformer. MiT ties a stage's width to its heads
# (embed_dims * num_heads), so 320 channels at stage 3 need 5 heads of 64
# instead of ChangeFormer-V6's 4 heads of 80 (same parameters, same widths).
_base_ = './ftan_b.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmseg.MixVisionTransformer',
        in_channels=3,
        embed_dims=64,
        num_stages=4,
        num_layers=[3, 3, 4, 3],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.1,
        drop_path_rate=0.1),
    decode_head=dict(with_iam=False))
