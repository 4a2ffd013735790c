# LEVIR-CD with open-cd's model-zoo protocol (configs/common/
# standard_256x256_40k_levircd.py in open-cd): random 256 crops of the
# 1024 x 1024 originals, batch 8, whole-image test at 1024 x 1024.
_base_ = './levir_cd.py'
data_root = 'data/LEVIR-CD'
crop_size = (256, 256)
train_pipeline = [
    dict(type='CDLoadImagePair'),
    dict(type='CDLoadChangeLabel'),
    dict(type='MultiImgRandomRotate', prob=0.5, degree=180),
    dict(type='MultiImgRandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='MultiImgRandomFlip', prob=0.5, direction='horizontal'),
    dict(type='MultiImgRandomFlip', prob=0.5, direction='vertical'),
    dict(
        type='MultiImgPhotoMetricDistortion',
        brightness_delta=10,
        contrast_range=(0.8, 1.2),
        saturation_range=(0.8, 1.2),
        hue_delta=10),
    dict(type='MultiImgPackSegInputs')
]
train_dataloader = dict(
    batch_size=8, dataset=dict(data_root=data_root, pipeline=train_pipeline))
