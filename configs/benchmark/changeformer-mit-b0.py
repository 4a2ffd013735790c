# open-cd's ChangeFormer MiT-b0 (Siamese MiT-b0 + SegFormer head on the
# concatenated dates), randomly initialised, BN instead of SyncBN.
_base_ = ['./_zoo_preprocessor.py']
model = dict(
    type='SiamEncoderDecoder',
    data_preprocessor={{_base_.data_preprocessor}},
    pretrained=None,
    backbone=dict(
        type='mmseg.MixVisionTransformer',
        in_channels=3,
        embed_dims=32,
        num_stages=4,
        num_layers=[2, 2, 2, 2],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        init_cfg=None),
    neck=dict(type='FeatureFusionNeck', policy='concat'),
    decode_head=dict(
        type='mmseg.SegformerHead',
        in_channels=[64, 128, 320, 512],  # 2 dates x (32, 64, 160, 256)
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=2,
        norm_cfg={{_base_.norm_cfg}},
        align_corners=False,
        loss_decode={{_base_.ce_loss}}),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
