"""tools/predict.py over 2 processes gives the one-process outputs.

One scene is split by row bands (mask and probability bit for bit, the
polygons, also those crossing the band boundary, equal); a folder is shared
out by pair with one merged summary; a rank that fails fails the run with
the rank and the rows named, leaving no output. Each case runs under
torchrun and under a real SLURM scheduler (``srun -n 2``).
"""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import shape

from ftan_opencd.apis.sliding_window import WindowLayout, row_bands
from ftan_tools.cluster import local_slurm
from .conftest import DEMO_CONFIG, REPO, free_port, infer

pytestmark = pytest.mark.needs_torchvision  # builds open-cd models

H, W, WINDOW = 400, 300, 64
ORIGIN, PIXEL = (500000.0, 4000000.0), 0.5
LAUNCHERS = ['torchrun', 'srun']


def write_geotiff(path, img):
    with rasterio.open(path, 'w', driver='GTiff', height=img.shape[0],
                       width=img.shape[1], count=3, dtype='uint8',
                       crs='EPSG:32633',
                       transform=from_origin(*ORIGIN, PIXEL, PIXEL)) as ds:
        ds.write(img.transpose(2, 0, 1))


def smooth_pair(seed, height=H, width=W):
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, 3)).astype(np.float32)
    base = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 6), None, 0, 255,
                         cv2.NORM_MINMAX).astype(np.uint8)
    other = base.copy()
    other[height // 3:height * 2 // 3, width // 8:width * 2 // 3] ^= 0xFF
    return base, other


@pytest.fixture(scope='module')
def scene(model, checkpoint, tmp_path_factory):
    """A GeoTIFF pair and a threshold at the 30th percentile of the
    (random-weight) model's probability: 70 % changed, in objects of every
    size, the largest spanning the scene."""
    root = tmp_path_factory.mktemp('scene')
    paths = [str(root / 't1.tif'), str(root / 't2.tif')]
    imgs = smooth_pair(0)
    for path, img in zip(paths, imgs):
        write_geotiff(path, img)
    _, prob = infer(model, progress=False)(*imgs, return_prob=True,
                                           window=WINDOW)
    return dict(paths=paths, threshold=float(np.quantile(prob, 0.3)),
                checkpoint=checkpoint)


def predict(args, launcher=None, request=None):
    """Run tools/predict.py: in one process, through tools/dist_predict.sh
    (torchrun) or tools/slurm_predict.sh on a CPU partition (2 tasks)."""
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    tool = [os.path.join(REPO, 'tools', 'predict.py'), DEMO_CONFIG]
    if launcher is None:
        command = [sys.executable, *tool, *args]
    elif launcher == 'torchrun':
        env.update(PORT=free_port(), PYTHON=sys.executable)
        command = ['bash', os.path.join(REPO, 'tools', 'dist_predict.sh'),
                   DEMO_CONFIG, args[0], '2', *args[1:]]
    else:
        cluster = request.getfixturevalue('slurm_cluster')
        env.update(SLURM_CONF=cluster.conf, MASTER_PORT=free_port(),
                   GPUS_PER_NODE='0', NTASKS='2', CPUS_PER_TASK='1',
                   PYTHON=sys.executable)
        command = ['bash', os.path.join(REPO, 'tools', 'slurm_predict.sh'),
                   local_slurm.PARTITION, 'ftan-predict', DEMO_CONFIG,
                   *args]
    return subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=600)


def scene_args(scene, out_dir):
    return [scene['checkpoint'], '--img1', scene['paths'][0], '--img2',
            scene['paths'][1], '--out', str(out_dir / 'm.tif'), '--prob',
            '--vector', str(out_dir / 'c.geojson'), '--min-area', '10',
            '--window', str(WINDOW),
            '--threshold', repr(scene['threshold']), '--no-progress']


def read_outputs(out_dir):
    with rasterio.open(out_dir / 'm.tif') as ds:
        mask, georef = ds.read(1), (ds.crs, ds.transform)
    with rasterio.open(out_dir / 'm_prob.tif') as ds:
        prob = ds.read(1)
    features = json.loads((out_dir / 'c.geojson').read_text())['features']
    return mask, prob, georef, features


@pytest.fixture(scope='module')
def one_process(scene, tmp_path_factory):
    out = tmp_path_factory.mktemp('one')
    run = predict(scene_args(scene, out))
    assert run.returncode == 0, run.stderr
    return read_outputs(out)


def feature_key(feature):
    return shape(feature['geometry']).bounds, feature['properties']['area_px']


def boundary_row() -> int:
    bands = row_bands(WindowLayout(H, W, WINDOW, WINDOW * 3 // 4), 2)
    assert bands[0][0] == 0 and bands[1][1] == H
    return bands[0][1]


@pytest.mark.parametrize('launcher', LAUNCHERS)
def test_one_scene_by_row_bands_equals_one_process(
        scene, one_process, tmp_path, launcher, request):
    run = predict(scene_args(scene, tmp_path), launcher, request)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'c.geojson', 'm.tif', 'm_prob.tif']  # no piece left behind
    mask, prob, georef, features = read_outputs(tmp_path)
    mask1, prob1, georef1, features1 = one_process
    np.testing.assert_array_equal(mask, mask1)
    np.testing.assert_array_equal(prob, prob1)
    assert georef == georef1
    assert 0.6 < (mask1 == 1).mean() < 0.8
    # the same objects (emitted in the order they are completed, which
    # follows the row blocks the writer receives)
    # rings may start at another vertex: compare the shapes
    assert len(features) == len(features1) > 5
    for got, want in zip(sorted(features, key=feature_key),
                         sorted(features1, key=feature_key)):
        assert shape(got['geometry']).equals(shape(want['geometry']))
        assert got['properties'] == pytest.approx(want['properties'])
    # objects that cross the boundary between the two ranks' bands
    y = ORIGIN[1] - PIXEL * boundary_row()
    crossing = [f for f in features1
                if min(c[1] for ring in f['geometry']['coordinates']
                       for c in ring) < y <
                max(c[1] for ring in f['geometry']['coordinates']
                    for c in ring)]
    assert crossing


def write_folder(root, names):
    for folder in ('A', 'B'):
        (root / folder).mkdir(parents=True)
    for i, name in enumerate(names):
        for folder, img in zip(('A', 'B'), smooth_pair(i + 1, 96, 96)):
            cv2.imwrite(str(root / folder / name), img)


@pytest.mark.parametrize('launcher', LAUNCHERS)
def test_folder_shared_by_pair_with_one_summary(scene, tmp_path, launcher,
                                                request):
    names = ['a.png', 'b.png', 'c.png']
    write_folder(tmp_path, names)
    args = [scene['checkpoint'], '--dir1', str(tmp_path / 'A'), '--dir2',
            str(tmp_path / 'B'), '--window', str(WINDOW), '--no-progress']
    one = predict(args + ['--out-dir', str(tmp_path / 'one')])
    two = predict(args + ['--out-dir', str(tmp_path / 'two')], launcher,
                  request)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    listing = sorted(p.name for p in (tmp_path / 'two').iterdir())
    assert listing == names + ['predict_summary.json']
    for name in names:
        assert (tmp_path / 'two' / name).read_bytes() == \
            (tmp_path / 'one' / name).read_bytes()
    summary = json.loads((tmp_path / 'two' / 'predict_summary.json')
                         .read_text())
    assert summary['complete'] and summary['pairs'] == 3
    assert [r['out'].rsplit('/', 1)[1] for r in summary['results']] == names
    assert [r['rank'] for r in summary['results']] == [0, 1, 0]
    single = json.loads((tmp_path / 'one' / 'predict_summary.json')
                        .read_text())
    for got, want in zip(summary['results'], single['results']):
        assert got.pop('out').replace('/two/', '/one/') == want.pop('out')
        assert {k: got[k] for k in want} == want


@pytest.mark.parametrize('launcher', LAUNCHERS)
def test_a_failing_rank_fails_the_run_and_leaves_nothing(
        scene, tmp_path, launcher, request):
    """Pixels above --max-value only in the bottom band: rank 1 fails."""
    imgs = smooth_pair(0)
    paths = []
    for name, img in zip(('t1.tif', 't2.tif'), imgs):
        img = np.minimum(img, 200)
        img[-8:] = 255  # beyond the max-value, in rank 1's band only
        paths.append(str(tmp_path / name))
        write_geotiff(paths[-1], img)
    out = tmp_path / 'out'
    run = predict([scene['checkpoint'], '--img1', paths[0], '--img2',
                   paths[1], '--out', str(out / 'm.tif'), '--prob',
                   '--window', str(WINDOW), '--max-value', '200',
                   '--no-progress'], launcher, request)
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines()
              if line.startswith('error: rank 1 failed')]
    # both ranks say it, as one line each
    assert len(errors) == 2, run.stderr[-3000:]
    assert errors[0].startswith(
        f'error: rank 1 failed on rows {boundary_row()}..{H} of ')
    assert 'max_value is 200' in errors[0]
    assert errors[0].endswith('no output was written')
    assert not out.exists() or list(out.iterdir()) == []
