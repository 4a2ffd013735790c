# Ablation row "neither": ChangeFormer-V6 (MiT-like encoder, its decoder).
_base_ = [
    '../../_base_/models/changeformer_v6.py',
    '../../_base_/datasets/levir_cd.py', '../../_base_/default_runtime.py',
    '../../_base_/schedules/schedule_paper.py'
]
model = dict(
    test_cfg=dict(mode='slide', crop_size=(256, 256), stride=(256, 256)))
