"""Training and testing on a real SLURM scheduler and under torchrun.

A single-node cluster (munged, slurmctld, slurmd of Debian's slurm-wlm,
installed with apt-get when missing) is started once for the session by
:class:`ftan_tools.cluster.LocalSlurm` and stopped, by pid file, at the
end. Two processes run with gloo on the CPU; the change metrics of a
2-process test equal the 1-process ones on a test set of odd length (the
sampler pads it with a repeat of the first pair, which must not count).
torchrun training is tested in test_training.py.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ftan_opencd.utils.distributed import slurm_environment
from ftan_opencd.errors import UserError
from ftan_tools.cluster import SlurmSetupError
from ftan_tools.cluster import local_slurm
from ftan_tools.datasets.synthetic import write_dataset
from .conftest import DEMO_CONFIG, REPO, free_port

pytestmark = pytest.mark.needs_torchvision  # builds open-cd models

TEST_PAIRS = 3  # odd: 2 ranks see 4 samples, one of them padding
# Metrics of tools/test.py's JSON log that depend on the predictions.
TIMING_KEYS = ('data_time', 'time')
SMALL = [
    'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
    'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False',
    'train_dataloader.dataset.pipeline.2.crop_size=(32,32)',
    'default_hooks.logger.interval=1',
]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('slurm-cd'))
    write_dataset(root, seed=1, size=64,
                  counts=dict(train=6, val=2, test=TEST_PAIRS))
    return root


def tool_env(**extra) -> dict:
    return dict(os.environ, PYTHONPATH=REPO, PYTHON=sys.executable,
                OMP_NUM_THREADS='1', **extra)


def run(command, cwd, env) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    return log


def logged_metrics(work_dir) -> dict:
    """The prediction metrics of the JSON log of a tools/test.py run."""
    logs = glob.glob(osp.join(str(work_dir), '*', '*.json'))
    assert len(logs) == 1, logs
    with open(logs[0]) as f:
        metrics = json.load(f)
    return {key: value for key, value in metrics.items()
            if key not in TIMING_KEYS}


def run_slurm_script(script, cluster, cwd, args, **env) -> str:
    """``tools/<script> PARTITION JOB DEMO_CONFIG *args`` on ``cluster`` as
    2 one-CPU tasks (``env`` asks for no GPU, in one of the two ways)."""
    job = 'ftan-' + script.removeprefix('slurm_').removesuffix('.sh')
    return run(['bash', osp.join(REPO, 'tools', script),
                local_slurm.PARTITION, job, DEMO_CONFIG,
                *args, '--cfg-options', *SMALL],
               cwd=str(cwd),
               env=tool_env(SLURM_CONF=cluster.conf, NTASKS='2',
                            CPUS_PER_TASK='1', MASTER_PORT=free_port(),
                            **env))


@pytest.fixture(scope='module')
def one_process_metrics(data_root, checkpoint, tmp_path_factory):
    """tools/test.py in one process on the odd-length test set."""
    work = tmp_path_factory.mktemp('test-1')
    run([sys.executable, osp.join(REPO, 'tools/test.py'), DEMO_CONFIG,
         checkpoint, '--work-dir', str(work), '--data-root', data_root,
         '--cfg-options', *SMALL], cwd=str(work), env=tool_env())
    metrics = logged_metrics(work)
    # The first pair's change fraction differs from the set's, so a
    # padded repeat of it would change the metrics.
    labels = [cv2.imread(path, cv2.IMREAD_GRAYSCALE) > 0 for path in
              sorted(glob.glob(osp.join(data_root, 'test/label/*.png')))]
    assert len(labels) == TEST_PAIRS
    assert round(labels[0].mean(), 4) != round(np.mean(labels), 4)
    assert metrics['OA'] < 100
    return metrics


def test_srun_training_on_cpu(slurm_cluster, data_root, tmp_path):
    """tools/slurm_train.sh on a CPU partition: 2 tasks, gloo, 2 iters."""
    work = tmp_path / 'work'
    log = run_slurm_script(
        'slurm_train.sh', slurm_cluster, tmp_path,
        [str(work), '--iters', '2', '--data-root', data_root],
        GPUS_PER_NODE='0')
    assert 'Distributed launcher: slurm' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert 'Iter(train) [2/2]' in log
    assert (work / 'iter_2.pth').is_file()


def test_srun_test_metrics_equal_one_process(slurm_cluster, data_root,
                                            checkpoint, one_process_metrics,
                                            tmp_path):
    work = tmp_path / 'work'
    log = run_slurm_script(
        'slurm_test.sh', slurm_cluster, tmp_path,
        [checkpoint, '--work-dir', str(work), '--data-root', data_root],
        GPUS='0')
    assert 'Distributed launcher: slurm' in log
    assert 'Iter(test) [2/2]' in log  # 2 samples per rank: one is padding
    assert logged_metrics(work) == one_process_metrics


def test_torchrun_test_metrics_equal_one_process(data_root, checkpoint,
                                                 one_process_metrics,
                                                 tmp_path):
    work = tmp_path / 'work'
    log = run(['bash', osp.join(REPO, 'tools/dist_test.sh'), DEMO_CONFIG,
               checkpoint, '2', '--work-dir', str(work), '--data-root',
               data_root, '--cfg-options', *SMALL],
              cwd=str(tmp_path), env=tool_env(PORT=free_port()))
    assert 'Distributed launcher: pytorch' in log
    assert 'Iter(test) [2/2]' in log
    assert logged_metrics(work) == one_process_metrics


def test_slurm_environment_from_job_step_variables(slurm_cluster,
                                                   monkeypatch):
    """The rendezvous of a SLURM task: the first host of the node list."""
    monkeypatch.setenv('SLURM_CONF', slurm_cluster.conf)  # for scontrol
    env = dict(SLURM_PROCID='3', SLURM_NTASKS='8', SLURM_LOCALID='1',
               SLURM_NODELIST='cpu[07-08],gpu1')
    assert slurm_environment(env) == dict(
        RANK='3', WORLD_SIZE='8', LOCAL_RANK='1', MASTER_ADDR='cpu07',
        MASTER_PORT='29500')
    env.update(MASTER_ADDR='10.0.0.5', MASTER_PORT='31000')
    assert slurm_environment(env)['MASTER_ADDR'] == '10.0.0.5'
    assert slurm_environment(env)['MASTER_PORT'] == '31000'


def test_slurm_launcher_outside_a_job_step_says_how_to_start_it():
    with pytest.raises(UserError, match=r'SLURM_PROCID, SLURM_NTASKS, '
                       r'SLURM_NODELIST not set.*srun'):
        slurm_environment({})


def test_missing_packages_without_root_is_an_error(monkeypatch):
    monkeypatch.setattr(os, 'geteuid', lambda: 1000)
    with pytest.raises(SlurmSetupError,
                       match=r'only root can install them here: install '
                       r'them \(apt-get install slurm-wlm munge\)'):
        local_slurm.install_packages(['slurm-wlm', 'munge'])
