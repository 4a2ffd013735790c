# The FTAN reference recipe: AdamW (betas 0.9/0.999, weight decay 0.1),
# lr 1e-4 decayed linearly to 0, batch 24 overall, no pretraining.
# 200 epochs of LEVIR-CD's 7120 tiles at batch 24 = 297 x 200 = 59,400
# iterations (ChangeFormer's LEVIR-CD script trains 200 epochs; the FTAN
# reference allows up to 500). Dataset configs override `max_iters`.
max_iters = 59400
val_interval = 2970  # every 10 epochs
optimizer = dict(
    type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.1)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
param_scheduler = [
    dict(
        type='PolyLR',
        power=1.0,
        eta_min=0.0,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# lr 1e-4 was tuned for batch 24: `--auto-scale-lr` rescales it for others.
auto_scale_lr = dict(enable=False, base_batch_size=24)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='SafeCheckpointHook',
        by_epoch=False,
        interval=val_interval,
        max_keep_ckpts=3,
        save_best='F1',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='CDVisualizationHook', interval=1))
