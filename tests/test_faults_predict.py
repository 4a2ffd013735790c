"""Interrupted ``tools/predict.py`` runs, with real processes and signals.

A 2048 x 2048 GeoTIFF pair takes the demo model long enough that a signal
sent when the first temporary output file appears lands in the middle of
the run. Nothing may be left under the output names, and no temporary file
after SIGTERM or Ctrl-C; after SIGKILL the next run reports the stale
temporary files and replaces them.
"""
import glob
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from .conftest import DEMO_CONFIG, REPO

rasterio = pytest.importorskip('rasterio')

pytestmark = pytest.mark.needs_torchvision  # builds open-cd models

SIDE = 2048
# 256 px windows every 192 px: 11 x 11 windows; the progress bar counts
# them ("30/121, ...").
WINDOWS = 121


@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    """A 2048 x 2048 RGB GeoTIFF pair of random pixels."""
    from rasterio.transform import from_origin
    folder = tmp_path_factory.mktemp('scene')
    rng = np.random.default_rng(0)
    paths = []
    for name in ('t1.tif', 't2.tif'):
        path = str(folder / name)
        with rasterio.open(path, 'w', driver='GTiff', height=SIDE,
                           width=SIDE, count=3, dtype='uint8',
                           crs='EPSG:32631',
                           transform=from_origin(5e5, 5e6, 0.5, 0.5)) as dst:
            dst.write(rng.integers(0, 256, (3, SIDE, SIDE), dtype=np.uint8))
        paths.append(path)
    return paths


def predict_command(checkpoint, scene, out):
    return [sys.executable, 'tools/predict.py', DEMO_CONFIG, checkpoint,
            '--img1', scene[0], '--img2', scene[1], '--out', str(out),
            '--prob']


def start(command, log_path):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    with open(log_path, 'w') as log:
        return subprocess.Popen(command, cwd=REPO, stdout=log,
                                stderr=subprocess.STDOUT, env=env)


def interrupt(checkpoint, scene, folder, signum):
    """Start a prediction into ``folder``, send ``signum`` once its
    temporary outputs exist; exit status, log and the temporary files'
    sizes at the signal."""
    out = folder / 'change.tif'
    log_path = folder.parent / f'{folder.name}.log'
    process = start(predict_command(checkpoint, scene, out), log_path)
    partials = osp.join(str(folder), '.*.partial.tif')
    deadline = time.monotonic() + 300
    while f' 30/{WINDOWS},' not in log_path.read_text():  # mid-run
        assert process.poll() is None, log_path.read_text()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    sizes = {osp.basename(p): osp.getsize(p) for p in glob.glob(partials)}
    process.send_signal(signum)
    status = process.wait(timeout=120)
    print(f'{signal.Signals(signum).name}: partial files at the signal '
          f'{sizes}; left after it: {sorted(os.listdir(folder))}')
    return status, log_path.read_text(), sizes


def test_sigterm_leaves_no_output_and_no_temporary_file(checkpoint, scene,
                                                        tmp_path):
    folder = tmp_path / 'out'
    status, log, sizes = interrupt(checkpoint, scene, folder,
                                   signal.SIGTERM)
    assert sorted(sizes) == ['.change.partial.tif',
                             '.change_prob.partial.tif']
    assert status == 128 + signal.SIGTERM, log[-3000:]
    assert 'SIGTERM: stopped; removing the unfinished output files' in log
    assert 'Traceback' not in log
    assert os.listdir(folder) == []


def test_ctrl_c_leaves_no_output_and_no_temporary_file(checkpoint, scene,
                                                       tmp_path):
    folder = tmp_path / 'out'
    status, log, sizes = interrupt(checkpoint, scene, folder, signal.SIGINT)
    assert len(sizes) == 2
    assert status != 0, log[-3000:]
    assert 'KeyboardInterrupt' in log
    assert os.listdir(folder) == []


def test_after_sigkill_the_next_run_replaces_the_stale_files(
        checkpoint, scene, tmp_path):
    folder = tmp_path / 'out'
    status, log, _ = interrupt(checkpoint, scene, folder, signal.SIGKILL)
    assert status == -signal.SIGKILL
    stale = sorted(os.listdir(folder))
    # SIGKILL cannot be caught: the hidden temporary files stay, but
    # nothing is under the output names.
    assert stale == ['.change.partial.tif', '.change_prob.partial.tif']
    print('stale after SIGKILL:',
          {name: osp.getsize(folder / name) for name in stale})
    result = subprocess.run(
        predict_command(checkpoint, scene, folder / 'change.tif'), cwd=REPO,
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO))
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    for name in stale:
        assert f'{folder / name}: unfinished output of an interrupted run' \
            in log
    assert sorted(os.listdir(folder)) == ['change.tif', 'change_prob.tif']
    with rasterio.open(folder / 'change.tif') as mask:
        assert mask.shape == (SIDE, SIDE)
        assert set(np.unique(mask.read(1))) <= {0, 1}
