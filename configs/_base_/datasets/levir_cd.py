# LEVIR-CD with the FTAN paper's protocol.
# Train on the 7120 non-overlapping 256 x 256 tiles written by
#   python tools/prepare_levircd.py data/LEVIR-CD data/LEVIR-CD256
# and validate / test on the 1024 x 1024 originals with 256 x 256 sliding
# windows (stride 256: exactly the paper's 1024 / 2048 test crops; the model
# config sets test_cfg, see configs/ftan/README.md).
dataset_type = 'CheckedCDDataset'
data_root = 'data/LEVIR-CD'
tile_root = 'data/LEVIR-CD256'

crop_size = (256, 256)
train_pipeline = [
    dict(type='CDLoadImagePair'),
    dict(type='CDLoadChangeLabel'),
    dict(type='MultiImgRandomFlip', prob=0.5, direction='horizontal'),
    dict(type='MultiImgRandomFlip', prob=0.5, direction='vertical'),
    # The reference code rescales by U(1.0, 1.2); the paper writes 0.8-1.2.
    dict(
        type='MultiImgRandomResize',
        scale=crop_size,
        ratio_range=(1.0, 1.2),
        keep_ratio=True),
    dict(type='MultiImgRandomCrop', crop_size=crop_size),
    dict(type='MultiImgPad', size=crop_size, pad_val=dict(img=0, seg=255)),
    dict(type='BitemporalGaussianBlur', radius_range=(0., 1.)),
    dict(
        type='BitemporalColorJitter',
        brightness=0.3,
        contrast=0.3,
        saturation=0.3,
        hue=0.3),
    dict(type='MultiImgPackSegInputs')
]
# Test pipelines start with open-cd's own loader (decoding as stored), which
# open-cd's OpenCDInferencer looks for; CDConformPixels then applies the
# same pixel rules as CDLoadImagePair (ftan_opencd/pixels.py).
test_pipeline = [
    dict(type='MultiImgLoadImageFromFile', color_type='unchanged'),
    dict(type='CDConformPixels'),
    dict(type='CDLoadChangeLabel'),
    dict(type='MultiImgPackSegInputs')
]


train_dataloader = dict(
    batch_size=24,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=tile_root,
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
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(
            img_path_from='test/A',
            img_path_to='test/B',
            seg_map_path='test/label'),
        pipeline=test_pipeline))

val_evaluator = dict(type='ChangeMetric')
test_evaluator = val_evaluator
