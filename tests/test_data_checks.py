"""Tests of CheckedCDDataset's upfront checks and of a full train pipeline."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.registry import DefaultScope

import ftan_opencd  # noqa: F401 - registers the dataset and transforms
from opencd.registry import DATASETS, TRANSFORMS

SIZE = 40
CROP = 32


def make_levir(root, names, skip=None, label_values=(0, 255)):
    """Write a LEVIR-CD style folder: A/, B/ and label/ with ``names``.

    Args:
        root (Path): Dataset root.
        names (list[str]): Sample names (without suffix).
        skip (dict, optional): Folder -> names not to write there.
        label_values (tuple): Values used for unchanged/changed.
    """
    skip = skip or {}
    rng = np.random.default_rng(0)
    for folder in ('A', 'B', 'label'):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name in names:
        for folder in ('A', 'B'):
            if name not in skip.get(folder, ()):
                img = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
                cv2.imwrite(str(root / folder / f'{name}.png'), img)
        if name not in skip.get('label', ()):
            mask = rng.integers(0, 2, (SIZE, SIZE)).astype(np.uint8)
            label = np.where(mask == 1, label_values[1], label_values[0])
            cv2.imwrite(
                str(root / 'label' / f'{name}.png'), label.astype(np.uint8))
    return root


def build_dataset(root, **kwargs):
    return DATASETS.build(
        dict(type='CheckedCDDataset', data_root=str(root), **kwargs))


def test_dataset_lists_samples_with_open_cd_keys(tmp_path):
    make_levir(tmp_path, ['b', 'a', 'c'])
    dataset = build_dataset(tmp_path)
    assert len(dataset) == 3
    assert dataset.metainfo['classes'] == ('unchanged', 'changed')
    assert dataset.metainfo['palette'] == [[0, 0, 0], [255, 255, 255]]
    info = dataset.get_data_info(0)
    assert info['img_path'] == [
        osp.join(str(tmp_path), 'A', 'a.png'),
        osp.join(str(tmp_path), 'B', 'a.png')
    ]
    assert info['seg_map_path'] == osp.join(str(tmp_path), 'label', 'a.png')
    for key in ('label_map', 'reduce_zero_label', 'seg_fields',
                'format_seg_map'):
        assert key in info
    assert info['seg_fields'] == []


def test_dataset_split_file_and_unlabelled(tmp_path):
    make_levir(tmp_path, ['a', 'b', 'c'])
    (tmp_path / 'val.txt').write_text('c\n\na\n')
    dataset = build_dataset(tmp_path, ann_file='val.txt')
    assert [osp.basename(dataset.get_data_info(i)['img_path'][0])
            for i in range(len(dataset))] == ['c.png', 'a.png']
    unlabelled = build_dataset(
        tmp_path, data_prefix=dict(img_path_from='A', img_path_to='B'))
    assert len(unlabelled) == 3
    assert 'seg_map_path' not in unlabelled.get_data_info(0)


@pytest.mark.parametrize('folder', ['A', 'B', 'label'])
def test_dataset_missing_folder(tmp_path, folder):
    make_levir(tmp_path, ['a'])
    for path in (tmp_path / folder).iterdir():
        path.unlink()
    (tmp_path / folder).rmdir()
    with pytest.raises(FileNotFoundError) as info:
        build_dataset(tmp_path)
    assert str(tmp_path / folder) in str(info.value)


def test_dataset_empty_split(tmp_path):
    make_levir(tmp_path, [])
    with pytest.raises(ValueError, match='empty split') as info:
        build_dataset(tmp_path)
    assert str(tmp_path / 'A') in str(info.value)
    (tmp_path / 'empty.txt').write_text('\n')
    with pytest.raises(ValueError, match='empty.txt'):
        build_dataset(tmp_path, ann_file='empty.txt')


def test_dataset_missing_split_file(tmp_path):
    make_levir(tmp_path, ['a'])
    with pytest.raises(FileNotFoundError, match='train.txt'):
        build_dataset(tmp_path, ann_file='train.txt')


@pytest.mark.parametrize('folder', ['A', 'B', 'label'])
def test_dataset_missing_pair_names(tmp_path, folder):
    make_levir(tmp_path, ['x1', 'x2', 'x3'], skip={folder: ['x2']})
    with pytest.raises(FileNotFoundError) as info:
        build_dataset(tmp_path)
    message = str(info.value)
    assert 'x2.png' in message and str(tmp_path / folder) in message
    assert 'x1.png' not in message


def test_dataset_lists_at_most_ten_missing_names(tmp_path):
    names = [f's{i:02d}' for i in range(12)]
    make_levir(tmp_path, names, skip={'label': names})
    with pytest.raises(FileNotFoundError) as info:
        build_dataset(tmp_path)
    message = str(info.value)
    assert '12 of 12' in message
    assert 's09.png' in message and 's10.png' not in message
    assert message.endswith('...')


def test_dataset_split_name_missing_in_a(tmp_path):
    make_levir(tmp_path, ['a'])
    (tmp_path / 'train.txt').write_text('a\nghost\n')
    with pytest.raises(FileNotFoundError, match='ghost.png'):
        build_dataset(tmp_path, ann_file='train.txt')


def train_pipeline_cfgs():
    return [
        dict(type='CDLoadImagePair'),
        dict(type='CDLoadChangeLabel'),
        dict(
            type='MultiImgRandomResize',
            scale=(SIZE, SIZE),
            ratio_range=(0.8, 1.2),
            keep_ratio=True),
        dict(type='MultiImgRandomCrop', crop_size=(CROP, CROP)),
        dict(type='MultiImgPad', size=(CROP, CROP)),
        dict(type='MultiImgRandomFlip', prob=0.5, direction='horizontal'),
        dict(type='BitemporalGaussianBlur'),
        dict(type='BitemporalColorJitter'),
        dict(type='MultiImgPackSegInputs'),
    ]


@pytest.mark.parametrize('label_values', [(0, 255), (0, 1)])
def test_full_train_pipeline(tmp_path, label_values):
    make_levir(tmp_path, ['p0', 'p1'], label_values=label_values)
    pipeline = Compose(
        [TRANSFORMS.build(cfg) for cfg in train_pipeline_cfgs()])
    dataset = build_dataset(tmp_path, pipeline=pipeline)
    outputs = []
    for _ in range(2):
        np.random.seed(5)
        outputs.append(dataset[1])
    sample = outputs[0]
    inputs = sample['inputs']
    assert inputs.shape == (6, CROP, CROP) and inputs.dtype == torch.uint8
    gt = sample['data_samples'].gt_sem_seg.data
    assert gt.shape == (1, CROP, CROP)
    assert set(gt.unique().tolist()) <= {0, 1, 255}
    assert gt.eq(1).any()
    meta = sample['data_samples'].metainfo
    for key in ('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                'scale_factor', 'flip'):
        assert key in meta
    assert meta['ori_shape'] == (SIZE, SIZE)
    assert torch.equal(inputs, outputs[1]['inputs'])
    assert torch.equal(gt, outputs[1]['data_samples'].gt_sem_seg.data)


def test_pipeline_from_config_dicts_in_opencd_scope(tmp_path):
    make_levir(tmp_path, ['p0'])
    with DefaultScope.overwrite_default_scope('opencd'):
        dataset = build_dataset(tmp_path, pipeline=train_pipeline_cfgs())
        sample = dataset[0]
    assert sample['inputs'].shape == (6, CROP, CROP)
    assert sample['data_samples'].gt_sem_seg.data.shape == (1, CROP, CROP)
