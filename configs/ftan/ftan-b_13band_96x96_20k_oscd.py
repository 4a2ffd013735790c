# FTAN-B on OSCD: 13 Sentinel-2 L1C bands per date (10 m grid), random
# 96 x 96 crops, batch 16, 20k iterations of the FTAN optimiser (AdamW lr
# 1e-4, weight decay 0.1, linear decay), whole-image validation and test
# (the images are about 600 x 600). Data: tools/prepare_oscd.py, see
# configs/_base_/datasets/oscd.py for the band order, value range and the
# per-band normalisation. Not a paper recipe: a starting point.
_base_ = [
    '../_base_/models/ftan_b.py', '../_base_/datasets/oscd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_40k.py'
]
# Per-band normalisation of both dates (26 values); bgr_to_rgb only acts on
# 6-channel input and is off: the bands stay in file order.
data_preprocessor = dict(
    mean={{_base_.pair_mean}},
    std={{_base_.pair_std}},
    bgr_to_rgb=False)
model = dict(
    data_preprocessor=data_preprocessor,
    # One date = 13 bands: the stem takes 13 channels and open-cd's
    # SiamEncoderDecoder splits the 26-channel input after 13.
    backbone=dict(in_channels=13),
    backbone_inchannels=13,
    test_cfg=dict(mode='whole'))

# schedule_40k.py's optimiser and hooks, 20k iterations without warm-up.
max_iters = 20000
val_interval = 1000
param_scheduler = [
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.0,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(checkpoint=dict(interval=val_interval))
