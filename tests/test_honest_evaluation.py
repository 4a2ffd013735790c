"""Honest evaluation: splits compared by content (leak check and
--drop-leaks), every shipped config selects its best checkpoint on a
validation folder distinct from the test folder, and `tools/benchmark.py
learn --seeds` reports mean ± std over seeds."""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from ftan_tools.datasets.leaks import (Duplicate, PairDigest,
                                       compare_digests, digest_pair,
                                       drop_leaks, find_leaks, image_digest)
from ftan_tools.datasets.synthetic import write_dataset
from ftan_tools.datasets.tiling import check_root_leaks, find_pairs
from ftan_opencd.cli import load_config
from ftan_opencd.datasets import split_datasets
from .conftest import REPO, load_tool
from .conftest import run_tool_main as _run

DSIFN_DIRS = ('t1', 't2', 'mask')
SIZE, TILE = 64, 32  # 4 tiles per pair
# The synthetic release: what is copied (renamed) from train into val/test.
TEST_COPIES = {'copy_t0': 'train0', 'copy_t1': 'train1'}
VAL_COPIES = {'copy_v0': 'train2'}
COUNTS = dict(train=5, val=2, test=3)  # original pairs per split


# ------------------------------------------------------------ the release
def _write(root, split, stem, images, label):
    """Write a pair (.jpg, as DSIFN-CD) and its mask (.png) with cv2."""
    for folder, image in zip(DSIFN_DIRS, images):
        os.makedirs(osp.join(root, split, folder), exist_ok=True)
        assert cv2.imwrite(osp.join(root, split, folder, stem + '.jpg'),
                           image)
    os.makedirs(osp.join(root, split, 'mask'), exist_ok=True)
    assert cv2.imwrite(osp.join(root, split, 'mask', stem + '.png'), label)


def _copy_pair(root, src, dst):
    """Copy a train pair under another name into another split."""
    (src_split, src_stem), (dst_split, dst_stem) = src, dst
    for folder, ext in zip(DSIFN_DIRS, ('.jpg', '.jpg', '.png')):
        shutil.copy(osp.join(root, src_split, folder, src_stem + ext),
                    osp.join(root, dst_split, folder, dst_stem + ext))


@pytest.fixture()
def release(tmp_path):
    """A DSIFN-layout release with 2 train pairs copied into test and 1 into
    val, and a test pair whose date 1 is train3's but whose date 2 is new.
    """
    root = str(tmp_path / 'release')
    rng = np.random.default_rng(0)

    def image():
        return rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)

    for split, num in COUNTS.items():
        for i in range(num):
            label = (rng.random((SIZE, SIZE)) > 0.7).astype(np.uint8) * 255
            _write(root, split, f'{split}{i}', (image(), image()), label)
    for split, copies in (('test', TEST_COPIES), ('val', VAL_COPIES)):
        for name, source in copies.items():
            _copy_pair(root, ('train', source), (split, name))
    _copy_pair(root, ('train', 'train3'), ('test', 'same_a'))
    assert cv2.imwrite(osp.join(root, 'test', 't2', 'same_a.jpg'), image())
    return root


def _pairs(root, splits=('train', 'val', 'test')):
    return {split: find_pairs(osp.join(root, split), DSIFN_DIRS, ('.jpg', ),
                              ('.png', ))
            for split in splits}


def _tiles(root, split):
    return sorted(os.listdir(osp.join(root, split, 'A')))


# ------------------------------------------------------------ leak check
def test_leak_check_finds_exactly_the_copied_pairs(release):
    report = find_leaks(_pairs(release), progress=False)
    assert report.order == ('train', 'val', 'test')
    assert report.sizes == dict(train=5, val=3, test=6)
    assert report.pairs == {
        ('train', 'val'): [Duplicate('copy_v0', 'train2')],
        ('train', 'test'): [Duplicate('copy_t0', 'train0'),
                            Duplicate('copy_t1', 'train1')],
        ('val', 'test'): []}
    assert report.leaked() == dict(val=['copy_v0'],
                                   test=['copy_t0', 'copy_t1'])
    # the same date 1 with another date 2 is not the same pair
    assert report.same_a[('train', 'test')] == [Duplicate('same_a',
                                                          'train3')]
    assert not any(report.same_b.values())


def test_identical_a_different_b_is_not_a_pair_duplicate():
    rng = np.random.default_rng(1)
    a, b, other_b = (rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                     for _ in range(3))

    def digest(stem, first, second):
        return digest_pair((stem, first, second, ''), read=lambda x: x)

    report = compare_digests(dict(train=[digest('x', a, b)],
                                  test=[digest('y', a, other_b)]))
    assert report.pairs[('train', 'test')] == []
    assert not report.has_leaks
    assert report.same_a[('train', 'test')] == [Duplicate('y', 'x')]
    assert report.same_b[('train', 'test')] == []


def test_image_digest_covers_shape_and_dtype():
    pixels = np.arange(24, dtype=np.uint8)
    assert image_digest(pixels.reshape(4, 6)) != image_digest(
        pixels.reshape(6, 4))
    assert image_digest(pixels.view(np.uint16)) != image_digest(
        pixels.view(np.uint8).reshape(-1))
    assert image_digest(pixels.reshape(4, 6)) == image_digest(
        pixels.reshape(4, 6).copy())


def test_drop_leaks_removes_from_test_what_val_holds_too():
    def digest(stem, pair):
        return PairDigest(stem, pair, pair + 'a', pair + 'b')

    digests = dict(test=[digest('t0', 'p1'), digest('t1', 'p9')],
                   val=[digest('v0', 'p1'), digest('v1', 'p2')],
                   train=[digest('r0', 'p2')])
    report = compare_digests(digests)
    assert report.order == ('train', 'val', 'test')
    assert report.pairs[('val', 'test')] == [Duplicate('t0', 'v0')]
    pairs = {split: [(d.stem, '', '', '') for d in found]
             for split, found in digests.items()}
    kept, dropped = drop_leaks(pairs, report)
    assert dropped == dict(train=0, val=1, test=1)
    assert [p[0] for p in kept['val']] == ['v0']
    assert [p[0] for p in kept['test']] == ['t1']


def test_preparation_reports_the_leaks_before_tiling(release, tmp_path,
                                                     capsys):
    out = str(tmp_path / 'out')
    code, tiles = _run('prepare_dsifn', [release, out, '--tile-size',
                                         str(TILE)])
    assert code == 0
    assert tiles == dict(train=20, val=12, test=24)  # nothing dropped
    text = capsys.readouterr().out
    assert 'reading the 14 pairs of train, val, test once' in text
    assert ('train/val: 1 of 3 val pair(s) also in train, e.g. '
            'val/copy_v0 = train/train2') in text
    assert ('train/test: 2 of 6 test pair(s) also in train, e.g. '
            'test/copy_t0 = train/train0, test/copy_t1 = train/train1'
            ) in text
    assert 'val/test: no test pair is also in val' in text
    assert 'test/same_a = train/train3' in text  # one date only, kept
    assert ('warning: pairs that repeat an earlier split: val 1 of 3, test '
            '2 of 6') in text
    assert text.index('leak check') < text.index('train: 5 pairs')


def test_drop_leaks_writes_a_split_without_them(release, tmp_path, capsys):
    out = str(tmp_path / 'out')
    code, tiles = _run('prepare_dsifn', [release, out, '--tile-size',
                                         str(TILE), '--drop-leaks'])
    assert code == 0
    assert tiles == dict(train=5 * 4, val=2 * 4, test=4 * 4)
    text = capsys.readouterr().out
    assert ('--drop-leaks: dropped 1 of 3 val pair(s), 2 of 6 test pair(s)'
            in text)
    assert 'val: 2 pairs (1 dropped by --drop-leaks) -> 8 tiles' in text
    assert 'test: 4 pairs (2 dropped by --drop-leaks) -> 16 tiles' in text
    assert {t.split('_y')[0] for t in _tiles(out, 'val')} == {'val0', 'val1'}
    assert {t.split('_y')[0] for t in _tiles(out, 'test')} == {
        'test0', 'test1', 'test2', 'same_a'}
    assert len(_tiles(out, 'train')) == 20
    report = check_root_leaks(out, progress=False)
    assert not report.has_leaks
    assert len(report.same_a[('train', 'test')]) == 4  # same_a's 4 tiles


def test_check_on_a_prepared_root(release, tmp_path, capsys):
    out = str(tmp_path / 'out')
    assert _run('prepare_dsifn', [release, out, '--tile-size', str(TILE),
                                  '--no-leak-check'])[0] == 0
    assert 'leak check' not in capsys.readouterr().out
    code, report = _run('check_leaks', [out])
    assert code == 0
    assert {s: len(stems) for s, stems in report.leaked().items()} == dict(
        val=4, test=8)  # the copied pairs' 4 tiles each
    assert 'pairs that repeat an earlier split: val 4 of 12, test 8 of 24' \
        in capsys.readouterr().out
    result = subprocess.run(
        [sys.executable, 'tools/check_leaks.py', out], cwd=REPO,
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 3, result.stderr[-2000:]
    clean = str(tmp_path / 'clean')
    write_dataset(clean, seed=3, size=SIZE, counts=dict(train=2, test=2))
    result = subprocess.run(
        [sys.executable, 'tools/check_leaks.py', clean], cwd=REPO,
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'no pair repeats across the splits' in result.stdout


def test_leak_options_and_errors(release, tmp_path, capsys):
    out = str(tmp_path / 'out')
    assert _run('prepare_dsifn', [release, out, '--splits', 'train',
                                  '--tile-size', str(TILE)])[0] == 0
    assert 'leak check: one split only (train), nothing to compare' in \
        capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        load_tool('tile_dataset').main(
            [release, out, '--no-leak-check', '--drop-leaks'])
    assert exc.value.code == 2
    code, message = _run('check_leaks', [str(tmp_path / 'missing')])
    assert message.startswith('error: data root not found')
    code, message = _run('check_leaks', [release, '--splits', 'train'])
    assert 'need two splits to compare' in message


# --------------------------------------------------------- shipped configs
def _runnable_configs():
    """Every config under configs/ that has both a val and a test loader."""
    found = []
    for path in sorted(glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                                 recursive=True)):
        cfg = Config.fromfile(path)
        if cfg.get('val_dataloader') and cfg.get('test_dataloader'):
            found.append(osp.relpath(path, REPO))
    return found


SHIPPED = _runnable_configs()


def _folders(cfg, split):
    """The A, B and label folders a split's data sets read."""
    return {osp.normpath(osp.join(d.get('data_root', ''), prefix))
            for d in split_datasets(cfg, split)
            for prefix in d.data_prefix.values()}


def test_shipped_configs_are_found():
    names = {osp.basename(p) for p in SHIPPED}
    assert 'ftan-b_256x256_200e_dsifncd.py' in names
    assert 'ftan-b_256x256_200e_levircd_whole-test.py' in names
    assert len(SHIPPED) >= 20


@pytest.mark.parametrize('path', SHIPPED)
def test_config_selects_its_checkpoint_on_val_not_test(path, tmp_path):
    cfg = Config.fromfile(osp.join(REPO, path))
    val, test = _folders(cfg, 'val'), _folders(cfg, 'test')
    assert val and test
    assert not val & test, f'{path} validates on its test folders {test}'
    assert all('val' in folder.split(os.sep) for folder in val), val
    assert all('test' in folder.split(os.sep) for folder in test), test
    assert cfg.val_evaluator.type == 'ChangeMetric'
    if cfg.get('train_cfg'):  # runnable: validation runs while training
        assert cfg.get('val_cfg'), f'{path} trains without a val loop'
    best = cfg.get('default_hooks', {}).get('checkpoint', {}).get(
        'save_best')
    if best:  # chosen on the val loop's metric (the val folders above)
        assert best == 'F1' and cfg.get('val_cfg')
    # --data-root keeps the splits apart too
    moved = load_config(osp.join(REPO, path), data_root=str(tmp_path))
    assert not _folders(moved, 'val') & _folders(moved, 'test')


def test_the_config_check_catches_validation_on_test(tmp_path):
    # what the reference code did: validate (and pick the best) on test
    bad = tmp_path / 'validates_on_test.py'
    base = osp.join(REPO, 'configs', 'ftan', 'ftan-b_256x256_200e_dsifncd.py')
    bad.write_text(
        f'_base_ = [{base!r}]\n'
        'val_dataloader = dict(dataset=dict(data_prefix=dict('
        "img_path_from='test/A', img_path_to='test/B', "
        "seg_map_path='test/label')))\n")
    cfg = Config.fromfile(str(bad))
    assert _folders(cfg, 'val') == _folders(cfg, 'test')


# ------------------------------------------------------- learn --seeds
@pytest.mark.needs_torchvision
def test_learn_with_seeds_reports_mean_std_and_each_seed(tmp_path):
    data = str(tmp_path / 'data')
    write_dataset(data, seed=3, size=64, counts=dict(train=4, val=2, test=2))
    out = tmp_path / 'learn'
    report = load_tool('benchmark').main([
        'learn', '--models', 'fc-siam-diff', '--data-root', data, '--iters',
        '2', '--batch', '2', '--seeds', '0', '1', '--out', str(out)])
    assert report['settings']['seeds'] == [0, 1]
    assert json.loads((out / 'learning.json').read_text()) == report
    result = report['results']['fc-siam-diff']
    assert set(result['seeds']) == {'0', '1'}
    runs = result['seeds']
    for seed, run in runs.items():
        log = (out / 'fc-siam-diff' / f'seed_{seed}' /
               'train_test.log').read_text()
        assert 'metrics' in run, log[-3000:]
        cfg = Config.fromfile(str(out / 'fc-siam-diff' / f'seed_{seed}' /
                                  'fc-siam-diff_learning.py'))
        assert cfg.randomness.seed == int(seed)
    assert result['runs'] == 2 and result['failed_seeds'] == []
    f1 = [runs[s]['metrics']['F1'] for s in ('0', '1')]
    assert result['mean']['F1'] == pytest.approx(np.mean(f1))
    assert result['std']['F1'] == pytest.approx(np.std(f1, ddof=1))
    markdown = (out / 'learning.md').read_text()
    assert 'seeds 0, 1' in markdown
    assert '| F1 (mean ± std) | IoU (mean ± std) |' in markdown
    mean, std = result['mean']['F1'], result['std']['F1']
    assert f'| fc-siam-diff | {mean:.2f} ± {std:.2f} |' in markdown
    assert f'| fc-siam-diff | 1 | {f1[1]:.2f} |' in markdown
    assert '| 2/2 |' in markdown


def test_learn_refuses_repeated_seeds_and_seed_with_seeds(tmp_path):
    for argv in (['--seeds', '0', '0'], ['--seed', '1', '--seeds', '2']):
        with pytest.raises(SystemExit) as exc:
            load_tool('benchmark').main(['learn', *argv, '--out',
                                         str(tmp_path)])
        assert exc.value.code == 2
