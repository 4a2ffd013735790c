# Ablation row "neither": ChangeFormer-V6 (MiT-like encoder, its decoder).
_base_ = [
    '../../_base_/models/changeformer_v6.py',
    '../../_base_/datasets/dsifn_cd.py', '../../_base_/default_runtime.py',
    '../../_base_/schedules/schedule_paper_dsifn.py'
]
