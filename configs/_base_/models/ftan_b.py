# FTAN-B: MCFA encoder (SegNeXt-B shape) + ChangeFormer-V6 decoder with IAM.
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='DualInputSegDataPreProcessor',
    # The reference normalises with mean = std = 0.5 on [0, 1] images.
    mean=[127.5, 127.5, 127.5] * 2,
    std=[127.5, 127.5, 127.5] * 2,
    bgr_to_rgb=True,
    size_divisor=32,
    pad_val=0,
    seg_pad_val=255,
    test_cfg=dict(size_divisor=32))
model = dict(
    type='SiamEncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='FTANBackbone',
        arch='b',
        in_channels=3,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.1,
        with_fdm=True,
        with_pconv=True,
        norm_cfg=norm_cfg),
    neck=dict(type='FeatureFusionNeck', policy='concat'),
    decode_head=dict(
        type='FTANHead',
        in_channels=[64, 128, 320, 512],
        in_index=[0, 1, 2, 3],
        channels=256,
        with_iam=True,
        # Same outputs as the reference: channels-last upsampling tail; at
        # inference the full-resolution tail runs in exact bands of at most
        # band_pixels output pixels (None: whole).
        channels_last_tail=True,
        band_pixels=2**18,
        num_classes=2,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False,
            loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
