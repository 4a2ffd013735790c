# FTAN-B on LEVIR-CD, the paper's recipe: 256 tiles, AdamW lr 1e-4 / wd 0.1,
# batch 24, cross-entropy, no pretraining, 200 epochs; test with 256 x 256
# sliding windows on the 1024 x 1024 originals (= the paper's 2048 crops).
_base_ = [
    '../_base_/models/ftan_b.py', '../_base_/datasets/levir_cd.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_paper.py'
]
model = dict(test_cfg=dict(mode='slide', crop_size=(256, 256), stride=(256, 256)))
