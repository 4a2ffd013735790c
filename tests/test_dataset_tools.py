"""Tests of the synthetic demo data and the release tiling tools."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest

import ftan_opencd  # noqa: F401
from ftan_tools.datasets import synthetic, tiling
from .conftest import REPO, load_tool
from .conftest import run_tool_main as run_tool


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


LEVIR = ('A', 'B', 'label'), ('.png', ), ('.png', )


def write_pair(root, split, stem, a, b, label, dirs=('A', 'B', 'label'),
               img_ext='.png', label_ext='.png'):
    """Write one pair of arrays with cv2; return the three paths."""
    paths = []
    for d, array, ext in zip(dirs, (a, b, label),
                             (img_ext, img_ext, label_ext)):
        os.makedirs(osp.join(root, split, d), exist_ok=True)
        paths.append(osp.join(root, split, d, stem + ext))
        assert cv2.imwrite(paths[-1], array)
    return paths


def random_pair(rng, height, width, channels=3, dtype=np.uint8):
    """Two random images and a 0/255 label of one size."""
    high = np.iinfo(dtype).max + 1
    shape = (height, width, channels) if channels > 1 else (height, width)
    a, b = (rng.integers(0, high, shape, dtype=dtype) for _ in range(2))
    label = (rng.random((height, width)) > 0.7).astype(np.uint8) * 255
    return a, b, label


def test_levircd_tiles_names_and_content(tmp_path, capsys):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    fake_release(src, ('A', 'B', 'label'), dict(train=2, val=1, test=1), 64)
    counts = load_tool('prepare_levircd').main(
        [src, out, '--tile-size', '32'])
    printed = capsys.readouterr().out
    assert (f'summary: train 8, val 4, test 4 tiles of 32x32 at stride 32 '
            f'(48 files: A, B, label) in {out}; not compared with the '
            'official LEVIR-CD release (--check-release)') in printed
    assert (f'train: 2 pairs -> 8 tiles, written to {out}/train/{{A,B}} as '
            f'.png and {out}/train/label as 0/255 .png') in printed
    assert counts == dict(train=8, val=4, test=4)
    names = sorted(os.listdir(osp.join(out, 'train', 'A')))
    assert names == sorted(f'train{i}_y{y}_x{x}.png' for i in range(2)
                           for y in (0, 32) for x in (0, 32))
    for d in ('A', 'B', 'label'):
        assert sorted(os.listdir(osp.join(out, 'train', d))) == names
    source = cv2.imread(osp.join(src, 'train', 'B', 'train1.png'), -1)
    tile = cv2.imread(osp.join(out, 'train', 'B', 'train1_y32_x0.png'), -1)
    np.testing.assert_array_equal(tile, source[32:64, 0:32])
    label_src = cv2.imread(osp.join(src, 'val', 'label', 'val0.png'), -1)
    label = cv2.imread(osp.join(out, 'val', 'label', 'val0_y0_x32.png'), -1)
    np.testing.assert_array_equal(label, label_src[0:32, 32:64])


@pytest.mark.parametrize('stride', [None, 100, 128])
def test_odd_size_offsets_follow_sliding_window(tmp_path, stride):
    from ftan_opencd.apis.sliding_window import window_starts
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    rng = np.random.default_rng(1)
    arrays = random_pair(rng, 200, 300)  # H 200, W 300
    write_pair(src, 'train', 'scene', *arrays)
    argv = [src, out, '--splits', 'train', '--tile-size', '128']
    argv += ['--stride', str(stride)] if stride else []
    counts = load_tool('tile_dataset').main(argv)
    tops = window_starts(200, 128, stride or 128)
    lefts = window_starts(300, 128, stride or 128)
    assert tops[-1] == 200 - 128 and lefts[-1] == 300 - 128  # flush
    expected = {f'scene_y{y}_x{x}.png': (y, x) for y in tops for x in lefts}
    assert counts == dict(train=len(expected))
    for d, array in zip(('A', 'B', 'label'), arrays):
        folder = osp.join(out, 'train', d)
        assert sorted(os.listdir(folder)) == sorted(expected)
        for name, (y, x) in expected.items():
            tile = cv2.imread(osp.join(folder, name), cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(tile, array[y:y + 128, x:x + 128])


def test_tile_offsets_are_window_starts():
    assert tiling.tile_offsets(200, 300, 128, 128) == [
        (0, 0), (0, 128), (0, 172), (72, 0), (72, 128), (72, 172)]
    assert tiling.tile_offsets(256, 256, 256, 256) == [(0, 0)]
    assert tiling.tile_name('a_b', 72, 172) == 'a_b_y72_x172.png'


def test_bmp_and_16bit_tiff_input(tmp_path):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    rng = np.random.default_rng(2)
    bmp = write_pair(src, 'train', 'b', *random_pair(rng, 48, 40),
                     img_ext='.bmp', label_ext='.bmp')
    tif = write_pair(src, 'test', 't', *random_pair(rng, 40, 48, 3,
                                                    np.uint16),
                     img_ext='.tif', label_ext='.tif')
    load_tool('tile_dataset').main(
        [src, out, '--splits', 'train', 'test', '--tile-size', '32'])
    tile = cv2.imread(osp.join(out, 'train', 'B', 'b_y16_x8.png'), -1)
    np.testing.assert_array_equal(tile, cv2.imread(bmp[1], -1)[16:, 8:])
    label = cv2.imread(osp.join(out, 'train', 'label', 'b_y0_x0.png'), -1)
    np.testing.assert_array_equal(label, cv2.imread(bmp[2], -1)[:32, :32])
    tile = cv2.imread(osp.join(out, 'test', 'A', 't_y8_x16.png'), -1)
    assert tile.dtype == np.uint16 and tile.shape == (32, 32, 3)
    np.testing.assert_array_equal(tile, cv2.imread(tif[0], -1)[8:, 16:])
    label = cv2.imread(osp.join(out, 'test', 'label', 't_y8_x0.png'), -1)
    np.testing.assert_array_equal(label, cv2.imread(tif[2], -1)[8:, :32])


def test_multiband_geotiff_tiles_stay_geotiff(tmp_path, capsys):
    import rasterio
    from rasterio.transform import Affine

    from ftan_opencd.pixels import load_image
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    rng = np.random.default_rng(3)
    bands = rng.integers(0, 4096, (2, 5, 40, 50), dtype=np.uint16)
    transform = Affine(0.5, 0, 500000, 0, -0.5, 4000000)
    paths = []
    for d, data in zip('AB', bands):
        os.makedirs(osp.join(src, 'train', d))
        paths.append(osp.join(src, 'train', d, 's.tif'))
        with rasterio.open(paths[-1], 'w', driver='GTiff', height=40,
                           width=50, count=5, dtype='uint16',
                           crs='EPSG:32631', transform=transform) as dst:
            dst.write(data)
    os.makedirs(osp.join(src, 'train', 'label'))
    cv2.imwrite(osp.join(src, 'train', 'label', 's.png'),
                np.zeros((40, 50), np.uint8))
    load_tool('tile_dataset').main(
        [src, out, '--splits', 'train', '--tile-size', '32'])
    assert "img_suffix='.tif'" in capsys.readouterr().out
    path = osp.join(out, 'train', 'B', 's_y8_x18.tif')
    with rasterio.open(path) as tile:
        np.testing.assert_array_equal(tile.read(), bands[1][:, 8:, 18:])
        assert tile.crs == 'EPSG:32631'
        assert tile.transform.xoff == 500000 + 18 * 0.5
        assert tile.transform.yoff == 4000000 - 8 * 0.5
        assert tile.transform[:2] == transform[:2]
    np.testing.assert_array_equal(
        load_image(path, 5, 4095), load_image(paths[1], 5, 4095)[8:, 18:])
    assert sorted(os.listdir(osp.join(out, 'train', 'label'))) == [
        's_y0_x0.png', 's_y0_x18.png', 's_y8_x0.png', 's_y8_x18.png']


def test_subset_without_check_exits_zero(tmp_path, capsys):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    fake_release(src, ('A', 'B', 'label'), dict(train=1, val=1, test=1), 96)
    code, _ = run_tool('prepare_levircd', [src, out, '--tile-size', '64'])
    assert code == 0
    assert 'summary: train 4, val 4, test 4 tiles' in capsys.readouterr().out


def test_check_release_passes_on_full_release(tmp_path, capsys):
    src = str(tmp_path / 'src')
    fake_release(src, ('A', 'B', 'label'), dict(train=2, val=1), 64)
    release = tiling.Release('TOY', dict(train=2, val=1), 64)
    counts = tiling.run_cli('t', *LEVIR, release, [
        src, str(tmp_path / 'out'), '--tile-size', '32', '--check-release'])
    assert counts == dict(train=8, val=4)
    assert ('pairs and image sizes as in the official TOY release'
            in capsys.readouterr().out)
    assert release.tiles_per_image(32, 32) == 4
    assert release.tiles_per_image(48, 8) == 9  # 0, 8 and flush 16


def test_check_release_on_subset_fails_naming_split(tmp_path):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    fake_release(src, ('A', 'B', 'label'), dict(train=1, val=64, test=1), 32)
    code, message = run_tool('prepare_levircd',
                             [src, out, '--check-release'])
    assert message.startswith('error: --check-release (LEVIR-CD): ')
    assert ("split 'train' has 1 image pair(s), the official release has "
            '445 (7120 tiles)') in message
    assert "split 'test' has 1 image pair(s)" in message
    assert "'val'" not in message
    assert 'leave out --check-release' in message
    assert not osp.exists(out)  # refused before writing


def test_check_release_refuses_image_of_other_size(tmp_path):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    fake_release(src, ('A', 'B', 'label'), dict(train=1), 48)
    release = tiling.Release('TOY', dict(train=1), 64)
    with pytest.raises(tiling.DatasetError) as error:
        tiling.run_cli('t', *LEVIR, release,
                       [src, out, '--tile-size', '16', '--check-release'])
    image = osp.join(src, 'train', 'A', 'train0.png')
    assert (f'{image} is 48x48, the official TOY images are 64x64'
            in str(error.value))


@pytest.mark.parametrize('where', ['same', 'inside', 'split'])
def test_output_in_source_refused_before_writing(tmp_path, where):
    src = str(tmp_path / 'src')
    fake_release(src, ('A', 'B', 'label'), dict(train=1), 64)
    before = tree(src)
    out = dict(same=src, inside=osp.join(src, 'tiles'),
               split=osp.join(src, 'train', '..'))[where]
    code, message = run_tool('tile_dataset',
                             [src, out, '--splits', 'train', '--tile-size',
                              '32'])
    assert code == 2 and message.startswith('error: the output folder')
    assert 'would be mixed into the release' in message
    assert tree(src) == before and not osp.exists(osp.join(src, 'tiles'))


@pytest.mark.parametrize('option,value,why', [
    ('--tile-size', '0', 'must be a positive integer'),
    ('--tile-size', '-32', 'must be a positive integer'),
    ('--tile-size', '1.5', 'must be a positive integer'),
    ('--stride', '0', 'must be a positive integer'),
    ('--stride', '33', 'larger than --tile-size 32: the tiles would leave '
     'gaps'),
    ('--label-threshold', '0', 'must be a positive number'),
])
def test_bad_sizes_refused(tmp_path, capsys, option, value, why):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    fake_release(src, ('A', 'B', 'label'), dict(train=1), 64)
    argv = [src, out, '--splits', 'train', '--tile-size', '32']
    code, _ = run_tool('tile_dataset', argv + [option, value])
    assert code == 2
    assert why in capsys.readouterr().err
    assert not osp.exists(out)


def test_prepare_api_refuses_bad_stride(tmp_path):
    with pytest.raises(tiling.DatasetError, match='1 <= stride <= tile'):
        tiling.prepare(str(tmp_path), str(tmp_path / 'o'), ['train'],
                       *LEVIR, tile=16, stride=32)


def test_label_policy_error_and_threshold(tmp_path):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    rng = np.random.default_rng(4)
    a, b, _ = random_pair(rng, 64, 64)
    label = np.where(rng.random((64, 64)) > 0.5, 100, 0).astype(np.uint8)
    paths = write_pair(src, 'train', 'p', a, b, label)
    argv = [src, out, '--splits', 'train', '--tile-size', '32']
    code, message = run_tool('tile_dataset', argv)
    assert message.startswith(f'error: change label {paths[2]} contains '
                              'invalid values [100]')
    assert 'set --label-threshold (e.g. 128' in message
    assert 'stopped before writing any tile' in message
    assert not osp.exists(out)  # no all-zero label tiles
    assert load_tool('tile_dataset').main(
        argv + ['--label-threshold', '50']) == dict(train=4)
    tile = cv2.imread(osp.join(out, 'train', 'label', 'p_y32_x0.png'), -1)
    np.testing.assert_array_equal(tile, (label[32:, :32] >= 50) * 255)


def test_error_after_some_tiles_says_what_was_written(tmp_path):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    fake_release(src, ('A', 'B', 'label'), dict(train=2, val=1), 64)
    cv2.imwrite(osp.join(src, 'val', 'label', 'val0.png'),
                np.full((64, 64), 7, np.uint8))
    code, message = run_tool('tile_dataset', [src, out, '--splits', 'train',
                                              'val', '--tile-size', '32'])
    assert message.endswith(f"[stopped in split 'val'; the tiles already "
                            f'written stay in {out}: train 8]')
    assert '\n' not in message


def test_size_mismatch_names_files(tmp_path):
    src = str(tmp_path / 'src')
    fake_release(src, ('A', 'B', 'label'), dict(train=1), 64)
    bad = osp.join(src, 'train', 'label', 'train0.png')
    cv2.imwrite(bad, np.zeros((32, 64), np.uint8))
    code, message = run_tool('tile_dataset', [
        src, str(tmp_path / 'out'), '--splits', 'train', '--tile-size', '32'
    ])
    assert message.startswith('error: sizes disagree (width x height): ')
    for d, size in (('A', '64x64'), ('B', '64x64'), ('label', '64x32')):
        assert f"{osp.join(src, 'train', d, 'train0.png')} {size}" in message
    assert not osp.exists(tmp_path / 'out')


def test_image_smaller_than_tile_refused(tmp_path):
    src = str(tmp_path / 'src')
    paths = write_pair(src, 'train', 's',
                       *random_pair(np.random.default_rng(5), 20, 40))
    code, message = run_tool('tile_dataset', [
        src, str(tmp_path / 'out'), '--splits', 'train', '--tile-size', '32'
    ])
    assert message == (f'error: {paths[0]} is 40x20, smaller than the 32x32 '
                       'tiles on at least one side; use a --tile-size of at '
                       'most 20 (or pad the image) [stopped before writing '
                       'any tile]')


def test_missing_counterpart_names_file(tmp_path):
    src = str(tmp_path / 'src')
    fake_release(src, ('A', 'B', 'label'), dict(train=2), 64)
    os.remove(osp.join(src, 'train', 'B', 'train1.png'))
    with pytest.raises(tiling.DatasetError, match=r"B lacks 1 .*'train1'"):
        tiling.find_pairs(osp.join(src, 'train'), ('A', 'B', 'label'),
                          ('.png', ), ('.png', ))


def test_listing_errors(tmp_path):
    src = str(tmp_path / 'src')
    fake_release(src, ('A', 'B', 'label'), dict(train=1), 64)
    cv2.imwrite(osp.join(src, 'train', 'A', 'train0.jpg'),
                np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(tiling.DatasetError,
                       match='several files with one stem'):
        tiling.find_pairs(osp.join(src, 'train'), tiling.OUT_DIRS,
                          tiling.IMAGE_SUFFIXES, tiling.LABEL_SUFFIXES)
    os.remove(osp.join(src, 'train', 'A', 'train0.jpg'))
    code, message = run_tool('tile_dataset', [src, str(tmp_path / 'o')])
    assert message == (f"error: split folder not found: {src}/val (choose "
                       'the splits with --splits)')


def test_interrupted_write_leaves_no_partial_file(tmp_path):
    path = str(tmp_path / 'tile.png')

    def broken(tmp):
        with open(tmp, 'wb') as f:
            f.write(b'\x89PNG half')
        raise OSError('disk full')

    with pytest.raises(tiling.DatasetError,
                       match=f'cannot write {path}: disk full'):
        tiling.write_atomic(path, broken)

    def interrupted(tmp):
        with open(tmp, 'wb') as f:
            f.write(b'\x89PNG half')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tiling.write_atomic(path, interrupted)
    assert os.listdir(tmp_path) == []
    tiling.write_atomic(path, lambda tmp: tiling.write_png(
        tmp, np.full((4, 4), 255, np.uint8)))
    assert os.listdir(tmp_path) == ['tile.png']
    assert cv2.imread(path, -1).min() == 255


def test_rerun_warns_about_files_it_did_not_write(tmp_path, capsys):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    fake_release(src, ('A', 'B', 'label'), dict(train=1), 64)
    argv = [src, out, '--splits', 'train']
    load_tool('tile_dataset').main(argv + ['--tile-size', '32'])
    load_tool('tile_dataset').main(argv + ['--tile-size', '32'])
    assert 'warning' not in capsys.readouterr().out
    load_tool('tile_dataset').main(argv + ['--tile-size', '48'])
    printed = capsys.readouterr().out
    for d in ('A', 'B', 'label'):
        assert (f'warning: {osp.join(out, "train", d)} also holds 3 file(s) '
                'this run did not write') in printed


def test_dsifn_jpg_and_tif_with_01_masks(tmp_path):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    dirs = ('t1', 't2', 'mask')
    fake_release(src, dirs, dict(train=1), 64, '.jpg', '.png')
    fake_release(src, dirs, dict(test=1), 64, '.jpg', '.tif', label_max=1)
    load_tool('prepare_dsifn').main(
        [src, out, '--splits', 'train', 'test', '--tile-size', '32'])
    assert len(os.listdir(osp.join(out, 'test', 'label'))) == 4
    jpg = cv2.imread(osp.join(src, 'test', 't1', 'test0.jpg'), -1)
    tile = cv2.imread(osp.join(out, 'test', 'A', 'test0_y32_x32.png'), -1)
    np.testing.assert_array_equal(tile, jpg[32:, 32:])
    mask = cv2.imread(osp.join(src, 'test', 'mask', 'test0.tif'), -1)
    label = cv2.imread(osp.join(out, 'test', 'label', 'test0_y0_x0.png'), -1)
    assert set(np.unique(label)) == {0, 255}
    np.testing.assert_array_equal(label, mask[:32, :32] * 255)
    label = cv2.imread(osp.join(out, 'train', 'label', 'train0_y0_x0.png'),
                       -1)
    assert set(np.unique(label)) == {0, 255}


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    import subprocess
    import sys
    src = str(tmp_path / 'src')
    fake_release(src, ('A', 'B', 'label'), dict(train=1), 64)
    tool = osp.join(REPO, 'tools', 'tile_dataset.py')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, tool, src, src, '--splits', 'train'],
        capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith('error: the output folder')
    assert result.stderr.count('\n') == 1 and 'Traceback' not in result.stderr
    result = subprocess.run(
        [sys.executable, tool, src, str(tmp_path / 'out'), '--splits',
         'train', '--tile-size', '32'], capture_output=True, text=True,
        env=env)
    assert result.returncode == 0, result.stderr
    assert 'summary: train 4 tiles' in result.stdout


def test_directory_named_like_an_image_is_skipped_and_named(tmp_path,
                                                             capsys):
    src, out = str(tmp_path / 'src'), str(tmp_path / 'out')
    fake_release(src, ('A', 'B', 'label'), dict(train=2, val=1, test=1), 64)
    extra = osp.join(src, 'train', 'A', 'extra.png')
    os.makedirs(extra)
    counts = load_tool('prepare_levircd').main(
        [src, out, '--tile-size', '64'])
    printed = capsys.readouterr().out
    assert (f'warning: skipped {extra}: a directory, not an image file'
            in printed)
    assert 'lacks' not in printed
    assert counts == dict(train=2, val=1, test=1)
    assert sorted(os.listdir(osp.join(out, 'train', 'A'))) == [
        'train0_y0_x0.png', 'train1_y0_x0.png']
    # the training data set skips it as well
    from ftan_opencd.datasets import CheckedCDDataset
    dataset = CheckedCDDataset(
        data_root=osp.join(src, 'train'), pipeline=[], lazy_init=False)
    assert sorted(osp.basename(info['img_path'][0])
                  for info in dataset.load_data_list()) == [
                      'train0.png', 'train1.png']
