# The embedded synthetic data set (LEVIR-CD layout), written by
#   python tools/make_demo_data.py --out data/demo-cd
# Small random crops and flips only: sized for a few minutes on a CPU.
_base_ = './levir_cd.py'
data_root = 'data/demo-cd'
crop_size = (128, 128)
train_pipeline = [
    dict(type='CDLoadImagePair'),
    dict(type='CDLoadChangeLabel'),
    dict(type='MultiImgRandomCrop', crop_size=crop_size),
    dict(type='MultiImgRandomFlip', prob=0.5, direction='horizontal'),
    dict(type='MultiImgRandomFlip', prob=0.5, direction='vertical'),
    dict(type='MultiImgPackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root))
test_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root))
