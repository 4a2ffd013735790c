# FTAN-B on DSIFN-CD, the paper's recipe on the 256 tiles (14400 / 1360 /
# 192): AdamW lr 1e-4 / wd 0.1, batch 24, cross-entropy, 200 epochs.
_base_ = [
    '../_base_/models/ftan_b.py', '../_base_/datasets/dsifn_cd.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_paper_dsifn.py'
]
