# The CPU demo: a small FTAN (a 4-stage MCFA encoder narrower and shallower
# than FTAN-T, 32-channel decoder with IAM, 0.7 M parameters) trained for a
# few minutes on the synthetic data set of tools/make_demo_data.py.
# `make demo` generates the data, trains, tests and writes prediction images.
_base_ = [
    '../_base_/models/ftan_b.py', '../_base_/datasets/demo_cd.py',
    '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=[16, 32, 64, 128],
            depths=[1, 1, 2, 1],
            mlp_ratios=[4, 4, 4, 4]),
        drop_path_rate=0.0),
    decode_head=dict(in_channels=[16, 32, 64, 128], channels=32))
max_iters = 300
optimizer = dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.0,
        begin=30,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='SafeCheckpointHook', by_epoch=False, interval=max_iters,
        save_best='F1', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='CDVisualizationHook', interval=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
