# Drop-in: FTAN's MCFA encoder under ChangeFormer's open-cd head
# (mmseg.SegformerHead on the concatenated dates), on open-cd's zoo protocol.
_base_ = '../ftan/ftan-b_256x256_40k_levircd.py'
model = dict(
    decode_head=dict(
        _delete_=True,
        type='mmseg.SegformerHead',
        in_channels=[v * 2 for v in [64, 128, 320, 512]],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=2,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(
            type='mmseg.CrossEntropyLoss', use_sigmoid=False,
            loss_weight=1.0)))
