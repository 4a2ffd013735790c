# Drop-in: FTAN's MCFA encoder under open-cd's BIT head (its H/8 stage, as
# BIT uses ResNet-18's layer 3), on open-cd's zoo protocol.
_base_ = '../ftan/ftan-b_256x256_40k_levircd.py'
model = dict(
    backbone=dict(out_indices=(1, )),
    neck=dict(type='FeatureFusionNeck', policy='concat', out_indices=(0, )),
    decode_head=dict(
        _delete_=True,
        type='BITHead',
        in_channels=128,
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
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False,
            loss_weight=1.0)))
