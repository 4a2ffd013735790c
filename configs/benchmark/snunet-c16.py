# open-cd's SNUNet-CD with ECAM and 16 base channels, randomly initialised.
_base_ = ['./_zoo_preprocessor.py']
base_channels = 16
model = dict(
    type='DIEncoderDecoder',
    data_preprocessor={{_base_.data_preprocessor}},
    pretrained=None,
    backbone=dict(
        type='SNUNet_ECAM', in_channels=3, base_channel=base_channels),
    decode_head=dict(
        type='mmseg.FCNHead',
        in_channels=base_channels * 4,
        channels=base_channels * 4,
        in_index=-1,
        num_convs=0,
        concat_input=False,
        num_classes=2,
        loss_decode={{_base_.ce_loss}}),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
