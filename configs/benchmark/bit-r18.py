# open-cd's BIT with a ResNet-18 (V1c, 3 stages, H/8) backbone, randomly
# initialised (no ImageNet weights), BN instead of SyncBN.
_base_ = ['./_zoo_preprocessor.py']
model = dict(
    type='SiamEncoderDecoder',
    data_preprocessor={{_base_.data_preprocessor}},
    pretrained=None,
    backbone=dict(
        type='mmseg.ResNetV1c',
        depth=18,
        num_stages=3,
        out_indices=(2, ),
        dilations=(1, 1, 1),
        strides=(1, 2, 1),
        norm_cfg={{_base_.norm_cfg}},
        norm_eval=False,
        style='pytorch',
        contract_dilation=True,
        init_cfg=None),
    neck=dict(type='FeatureFusionNeck', policy='concat', out_indices=(0, )),
    decode_head=dict(
        type='BITHead',
        in_channels=256,
        channels=32,
        embed_dims=64,
        enc_depth=1,
        enc_with_pos=True,
        dec_depth=8,
        num_heads=8,
        drop_rate=0.,
        use_tokenizer=True,
        token_len=4,
        upsample_size=4,
        num_classes=2,
        norm_cfg=dict(type='LN', requires_grad=True),
        align_corners=False,
        loss_decode={{_base_.ce_loss}}),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
