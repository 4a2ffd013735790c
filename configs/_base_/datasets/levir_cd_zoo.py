# LEVIR-CD with open-cd's model-zoo protocol (configs/common/
# standard_256x256_40k_levircd.py in open-cd): random 256 crops of the
# 1024 x 1024 originals, batch 8, whole-image test at 1024 x 1024.
dataset_type = 'CheckedCDDataset'
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
test_pipeline = [
    dict(type='CDLoadImagePair'),
    dict(type='CDLoadChangeLabel'),
    dict(type='MultiImgPackSegInputs')
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path_from='train/A',
            img_path_to='train/B',
            seg_map_path='train/label'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path_from='val/A',
            img_path_to='val/B',
            seg_map_path='val/label'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader.copy()
test_dataloader['dataset'] = dict(
    val_dataloader['dataset'],
    data_prefix=dict(
        img_path_from='test/A',
        img_path_to='test/B',
        seg_map_path='test/label'))
val_evaluator = dict(type='ChangeMetric')
test_evaluator = val_evaluator
