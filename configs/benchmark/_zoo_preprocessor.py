# The data preprocessor shared by the open-cd zoo models of the benchmark
# (ImageNet statistics, two RGB dates stacked on channels).
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='DualInputSegDataPreProcessor',
    mean=[123.675, 116.28, 103.53] * 2,
    std=[58.395, 57.12, 57.375] * 2,
    bgr_to_rgb=True,
    size_divisor=32,
    pad_val=0,
    seg_pad_val=255,
    test_cfg=dict(size_divisor=32))
ce_loss = dict(
    type='mmseg.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)
