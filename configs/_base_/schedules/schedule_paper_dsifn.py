# The paper recipe on DSIFN-CD: 200 epochs of 14400 tiles at batch 24
# = 600 x 200 = 120,000 iterations, validated every 10 epochs.
_base_ = './schedule_paper.py'
max_iters = 120000
val_interval = 6000
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
default_hooks = dict(checkpoint=dict(interval=val_interval))
