"""Tests of the synthetic demo data and the release tiling tools."""
import importlib.util
import os
import os.path as osp

import cv2
import numpy as np
import pytest

import ftan_opencd  # noqa: F401
from ftan_tools.datasets import synthetic, tiling

TOOLS = osp.join(osp.dirname(__file__), '..', 'tools')


def load_tool(name):
    """Import ``tools/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(
        name, osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tree(root):
    """Relative path -> bytes of every file under root."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files


# ---------------------------------------------------------------- synthetic
def test_make_pair_types_and_labels():
    a, b, label = synthetic.make_pair(np.random.default_rng(3), 96)
    assert a.shape == b.shape == (96, 96, 3)
    assert a.dtype == b.dtype == label.dtype == np.uint8
    assert label.shape == (96, 96)
    assert set(np.unique(label)) <= {0, 255}


def test_change_ratio_and_pseudo_changes():
    ratios, unchanged_diff = [], []
    for a, b, label in synthetic.make_split(0, 'val', 24, 256):
        ratios.append(np.mean(label > 0))
        still = label == 0
        unchanged_diff.append(
            np.abs(a.astype(int) - b.astype(int))[still].mean())
    assert 0.03 < np.mean(ratios) < 0.12  # LEVIR-CD-like
    assert min(ratios) == 0.0  # some scenes have no change at all
    # Unchanged pixels still differ (illumination, season, noise, shift).
    assert min(unchanged_diff) > 2.0


def test_split_images_independent_of_count():
    first = next(synthetic.make_split(5, 'train', 1, 64))
    three = list(synthetic.make_split(5, 'train', 3, 64))
    for x, y in zip(first, three[0]):
        np.testing.assert_array_equal(x, y)
    other_split = next(synthetic.make_split(5, 'test', 1, 64))
    assert not np.array_equal(first[0], other_split[0])


def test_make_demo_data_cli_is_deterministic(tmp_path):
    tool = load_tool('make_demo_data')
    args = ['--seed', '1', '--size', '64', '--num-train', '3', '--num-val',
            '1', '--num-test', '2']
    tool.main(['--out', str(tmp_path / 'x')] + args)
    tool.main(['--out', str(tmp_path / 'y')] + args)
    x, y = tree(tmp_path / 'x'), tree(tmp_path / 'y')
    assert x == y
    assert len(x) == 3 * (3 + 1 + 2)
    assert 'train/A/train_0002.png' in x and 'test/label/test_0001.png' in x
    a = cv2.imread(str(tmp_path / 'x/val/A/val_0000.png'), -1)
    label = cv2.imread(str(tmp_path / 'x/val/label/val_0000.png'), -1)
    assert a.shape == (64, 64, 3) and label.shape == (64, 64)
    counts = synthetic.write_dataset(str(tmp_path / 'z'), 1, 64, dict(val=1))
    assert counts == dict(val=1)
    assert (tree(tmp_path / 'z')['val/B/val_0000.png'] ==
            x['val/B/val_0000.png'])


# ---------------------------------------------------------------- tiling
def fake_release(root, dirs, counts, size, img_ext='.png', label_ext='.png',
                 label_max=255):
    """Write random image pairs and labels; return {split: [stems]}."""
    rng = np.random.default_rng(0)
    stems = {}
    for split, num in counts.items():
        stems[split] = [f'{split}{i}' for i in range(num)]
        for d in dirs:
            os.makedirs(osp.join(root, split, d))
        for stem in stems[split]:
            for d in dirs[:2]:
                img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                cv2.imwrite(osp.join(root, split, d, stem + img_ext), img)
            label = (rng.random((size, size)) > 0.7).astype(np.uint8)
            cv2.imwrite(osp.join(root, split, dirs[2], stem + label_ext),
                        label * label_max)
    return stems


def test_levircd_tiles_names_and_content(tmp_path, capsys):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    fake_release(src, ('A', 'B', 'label'), dict(train=2, val=1, test=1), 64)
    counts = load_tool('prepare_levircd').main(
        [src, out, '--tile-size', '32', '--no-check'])
    assert 'summary: train 8, val 4, test 4 tiles' in capsys.readouterr().out
    assert counts == dict(train=8, val=4, test=4)
    names = sorted(os.listdir(osp.join(out, 'train', 'A')))
    assert names == sorted(f'train{i}_{r}_{c}.png' for i in range(2)
                           for r in range(2) for c in range(2))
    for d in ('A', 'B', 'label'):
        assert sorted(os.listdir(osp.join(out, 'train', d))) == names
    source = cv2.imread(osp.join(src, 'train', 'B', 'train1.png'), -1)
    tile = cv2.imread(osp.join(out, 'train', 'B', 'train1_1_0.png'), -1)
    np.testing.assert_array_equal(tile, source[32:64, 0:32])
    label_src = cv2.imread(osp.join(src, 'val', 'label', 'val0.png'), -1)
    label = cv2.imread(osp.join(out, 'val', 'label', 'val0_0_1.png'), -1)
    np.testing.assert_array_equal(label, label_src[0:32, 32:64])


def test_count_check_passes_and_fails(tmp_path):
    src = str(tmp_path / 'src')
    fake_release(src, ('A', 'B', 'label'), dict(train=2, val=1), 64)
    layout = ('A', 'B', 'label'), ('.png', ), ('.png', )
    counts = tiling.run_cli('t', *layout, dict(train=2, val=1), 64,
                            [src, str(tmp_path / 'ok'), '--tile-size', '32'])
    assert counts == dict(train=8, val=4)
    with pytest.raises(SystemExit) as error:
        tiling.run_cli('t', *layout, dict(train=3, val=1), 64,
                       [src, str(tmp_path / 'bad'), '--tile-size', '32'])
    message = str(error.value.code)  # a str code exits with status 1
    assert message.startswith('error: unexpected tile counts')
    assert "split 'train': 8 tiles, expected 12" in message
    assert "'val'" not in message


def test_levircd_official_count_check_fails_on_subset(tmp_path):
    src = str(tmp_path / 'src')
    fake_release(src, ('A', 'B', 'label'), dict(train=1, val=1, test=1), 256)
    with pytest.raises(SystemExit) as error:
        load_tool('prepare_levircd').main([src, str(tmp_path / 'out')])
    assert "split 'train': 1 tiles, expected 7120" in str(error.value.code)
    assert "split 'test': 1 tiles, expected 2048" in str(error.value.code)


def test_size_mismatch_names_files(tmp_path):
    src = str(tmp_path / 'src')
    fake_release(src, ('A', 'B', 'label'), dict(train=1), 64)
    bad = osp.join(src, 'train', 'label', 'train0.png')
    cv2.imwrite(bad, np.zeros((32, 64), np.uint8))
    with pytest.raises(SystemExit) as error:
        tiling.run_cli('t', ('A', 'B', 'label'), ('.png', ), ('.png', ),
                       dict(train=1), 64,
                       [src, str(tmp_path / 'out'), '--tile-size', '32'])
    message = str(error.value.code)
    assert 'sizes disagree' in message
    assert f'{bad} 64x32' in message
    assert osp.join(src, 'train', 'A', 'train0.png') + ' 64x64' in message


def test_missing_counterpart_names_file(tmp_path):
    src = str(tmp_path / 'src')
    fake_release(src, ('A', 'B', 'label'), dict(train=2), 64)
    os.remove(osp.join(src, 'train', 'B', 'train1.png'))
    with pytest.raises(tiling.DatasetError, match=r"B lacks 1 .*'train1'"):
        tiling.find_pairs(osp.join(src, 'train'), ('A', 'B', 'label'),
                          ('.png', ), ('.png', ))


def test_dsifn_jpg_and_tif_with_01_masks(tmp_path):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    dirs = ('t1', 't2', 'mask')
    fake_release(src, dirs, dict(train=1), 64, '.jpg', '.png')
    fake_release(src, dirs, dict(test=1), 64, '.jpg', '.tif', label_max=1)
    load_tool('prepare_dsifn').main(
        [src, out, '--splits', 'train', 'test', '--tile-size', '32',
         '--no-check'])
    assert len(os.listdir(osp.join(out, 'test', 'label'))) == 4
    jpg = cv2.imread(osp.join(src, 'test', 't1', 'test0.jpg'), -1)
    tile = cv2.imread(osp.join(out, 'test', 'A', 'test0_1_1.png'), -1)
    np.testing.assert_array_equal(tile, jpg[32:, 32:])
    mask = cv2.imread(osp.join(src, 'test', 'mask', 'test0.tif'), -1)
    label = cv2.imread(osp.join(out, 'test', 'label', 'test0_0_0.png'), -1)
    assert set(np.unique(label)) == {0, 255}
    np.testing.assert_array_equal(label, mask[:32, :32] * 255)
    label = cv2.imread(osp.join(out, 'train', 'label', 'train0_0_0.png'), -1)
    assert set(np.unique(label)) == {0, 255}
