# Shared recipe of `tools/benchmark.py learn` and of the runnable zoo configs
# configs/benchmark/learn/<model>.py: the LEVIR-CD layout data of the demo
# (random 128 crops and flips; point it elsewhere with --data-root), the
# runtime and one schedule for every model (same iterations, optimiser and
# batch). Validation once, at the end of training, on the val/ split; the
# final weights are tested on the test/ split. `tools/benchmark.py learn`
# turns validation off when there is no val split.
_base_ = ['../_base_/datasets/demo_cd.py', '../_base_/default_runtime.py']
max_iters = 300
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
         end=max_iters // 10),
    dict(type='PolyLR', power=1.0, eta_min=0.0, begin=max_iters // 10,
         end=max_iters, by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False,
                    interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
