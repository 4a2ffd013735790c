# open-cd's FC-Siam-diff (Siamese U-Net, skip connections as differences,
# 16 base channels), randomly initialised.
_base_ = ['./_zoo_preprocessor.py']
base_channels = 16
model = dict(
    type='DIEncoderDecoder',
    data_preprocessor={{_base_.data_preprocessor}},
    pretrained=None,
    backbone=dict(
        type='FC_Siam_diff', in_channels=3, base_channel=base_channels),
    decode_head=dict(
        type='mmseg.FCNHead',
        in_channels=base_channels,
        channels=base_channels,
        in_index=-1,
        num_convs=0,
        concat_input=False,
        num_classes=2,
        loss_decode={{_base_.ce_loss}}),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
