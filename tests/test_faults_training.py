"""Killed and preempted training runs, with real processes and signals.

Each test starts ``tools/train.py`` on the demo config (a 40-iteration
schedule shrunk to seconds), kills it (SIGKILL at a random iteration,
SIGKILL while a checkpoint is being written, SIGTERM as SLURM sends before
preemption) and restarts it with ``--resume``.
"""
import glob
import json
import os
import os.path as osp
import random
import signal
import subprocess
import sys
import time
import zipfile

import pytest
import torch
from mmengine.optim.scheduler import LinearLR, PolyLR

from ftan_opencd.engine import REQUEUE_STATUS
from ftan_opencd.utils import load_checkpoint_file
from ftan_opencd.utils.resume import latest_complete_checkpoint
from ftan_tools.datasets.synthetic import write_dataset
from .conftest import DEMO_CONFIG, REPO

pytestmark = pytest.mark.needs_torchvision  # builds open-cd models

ITERS = 40
# The demo schedule is 300 iterations; --iters 40 scales the checkpoint
# interval by 40/300: 75 -> 10, 15 -> 2.
EVERY_10 = 'default_hooks.checkpoint.interval=75'
EVERY_2 = 'default_hooks.checkpoint.interval=15'


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('fault-data'))
    write_dataset(root, seed=1, size=64, counts=dict(train=6, val=2, test=2))
    return root


def train_command(data_root, work_dir, *options, resume=False):
    """The demo config for ITERS iterations on 32 px crops, logging each
    iteration, without dataloader workers."""
    command = [sys.executable, 'tools/train.py', DEMO_CONFIG, '--iters',
               str(ITERS), '--work-dir', str(work_dir)]
    if resume:
        command.append('--resume')
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    command += ['--cfg-options'] + [
        f'{loader}.{key}' for loader in loaders
        for key in (f'dataset.data_root={data_root}', 'num_workers=0',
                    'persistent_workers=False')
    ] + ['train_dataloader.batch_size=2',
         'train_dataloader.dataset.pipeline.2.crop_size=(32,32)',
         'default_hooks.logger.interval=1', *options]
    return command


def start(command, log_path):
    """Start ``command`` with its output in ``log_path``, in a process
    group of its own (as a scheduler's job step)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    log = open(log_path, 'w')
    process = subprocess.Popen(command, cwd=REPO, stdout=log,
                               stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    log.close()
    return process


def finish(command, log_path):
    """Run ``command`` to the end; its exit status and log."""
    process = start(command, log_path)
    status = process.wait(timeout=600)
    with open(log_path) as f:
        return status, f.read()


def wait_for(process, condition, what, timeout=300):
    """Poll ``condition()`` until true while ``process`` runs."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f'the run ended before {what}'
        assert time.monotonic() < deadline, f'no {what} in {timeout} s'
        time.sleep(0.002)


def logged(log_path, text):
    with open(log_path) as f:
        return text in f.read()


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return osp.basename(f.read().strip())


def train_scalars(work_dir, before):
    """lr and iteration of each training iteration of the run whose
    timestamped log folder is not in ``before``."""
    runs = set(glob.glob(osp.join(str(work_dir), '2*'))) - before
    assert len(runs) == 1, runs
    with open(osp.join(runs.pop(), 'vis_data', 'scalars.json')) as f:
        rows = [json.loads(line) for line in f]
    return [(row['iter'], row['lr']) for row in rows if 'lr' in row]


def schedule_lr():
    """The demo schedule at --iters 40, built with mmengine's schedulers:
    the lr of iteration i (1-based) is ``expected[i - 1]``."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.AdamW([param], lr=1e-3)
    schedulers = [
        LinearLR(optimizer, start_factor=0.1, by_epoch=False, begin=0,
                 end=4),
        PolyLR(optimizer, power=1.0, eta_min=0.0, begin=4, end=ITERS,
               by_epoch=False)
    ]
    expected = []
    for _ in range(ITERS):
        expected.append(optimizer.param_groups[0]['lr'])
        optimizer.step()  # no gradient: only the step order mmengine wants
        for scheduler in schedulers:
            scheduler.step()
    return expected


def check_resumed(data_root, work, tmp_path, resumed_at):
    """Rerun with --resume: it continues at ``resumed_at + 1`` with the
    schedule's lr and ends with iter_40.pth."""
    before = set(glob.glob(osp.join(str(work), '2*')))
    status, log = finish(train_command(data_root, work, resume=True),
                         tmp_path / 'resume.log')
    assert status == 0, log[-3000:]
    assert f'resumed epoch: 0, iter: {resumed_at}' in log
    scalars = train_scalars(work, before)
    assert [i for i, _ in scalars] == list(range(resumed_at + 1, ITERS + 1))
    expected = schedule_lr()
    for i, lr in scalars:
        assert lr == pytest.approx(expected[i - 1], rel=1e-6), i
    final = load_checkpoint_file(work / f'iter_{ITERS}.pth', 'cpu')
    assert final['meta']['iter'] == ITERS
    assert last_checkpoint(work) == f'iter_{ITERS}.pth'
    return log


def test_kill_9_at_a_random_iteration_resumes_from_the_last_checkpoint(
        data_root, tmp_path):
    seed = random.randrange(1 << 30)
    kill_after = random.Random(seed).randint(11, 19)
    print(f'seed {seed}: SIGKILL after iteration {kill_after}')
    work = tmp_path / 'work'
    log_path = tmp_path / 'first.log'
    process = start(train_command(data_root, work, EVERY_10), log_path)
    wait_for(process,
             lambda: logged(log_path, f'Iter(train) [{kill_after}/{ITERS}]'),
             f'iteration {kill_after}')
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert sorted(osp.basename(p) for p in glob.glob(f'{work}/*.pth')) \
        == ['iter_10.pth']
    assert last_checkpoint(work) == 'iter_10.pth'
    check_resumed(data_root, work, tmp_path, resumed_at=10)


def test_kill_9_while_a_checkpoint_is_written(data_root, tmp_path):
    """SIGKILL the moment a checkpoint's temporary file appears: no file
    under a checkpoint name is incomplete, and --resume continues from the
    checkpoint before (a few tries, as the write may finish first)."""
    work = tmp_path / 'work'
    for attempt in range(5):
        log_path = tmp_path / f'run{attempt}.log'
        process = start(
            train_command(data_root, work, EVERY_2, resume=attempt > 0),
            log_path)
        pattern = osp.join(str(work), '.iter_*.partial.pth')
        record = osp.join(str(work), 'last_checkpoint')
        wait_for(process, lambda: osp.exists(record) and glob.glob(pattern),
                 'a checkpoint write after the first checkpoint')
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
        partials = glob.glob(pattern)
        for path in glob.glob(osp.join(str(work), '*.pth')):
            assert zipfile.is_zipfile(path), f'{path} is incomplete'
        if partials:
            break
    else:
        pytest.fail('5 kills all came after the checkpoint write')
    [partial] = partials
    step = int(osp.basename(partial).split('_')[1].split('.')[0])
    size = osp.getsize(partial)
    print(f'killed while writing iter_{step}.pth: {size} bytes written')
    assert not osp.exists(osp.join(str(work), f'iter_{step}.pth'))
    previous = last_checkpoint(work)
    assert previous == f'iter_{step - 2}.pth'
    log = check_resumed(data_root, work, tmp_path, resumed_at=step - 2)
    assert f'{partial}: removed an incomplete checkpoint' in log
    assert not glob.glob(pattern)


def test_sigterm_saves_a_checkpoint_and_exits_for_requeueing(
        data_root, tmp_path):
    """SIGTERM to the run's process group (without dataloader workers:
    PyTorch's workers end on a SIGTERM that is not their parent's, see
    docs/faults.md)."""
    work = tmp_path / 'work'
    log_path = tmp_path / 'first.log'
    process = start(train_command(data_root, work, EVERY_10), log_path)
    wait_for(process, lambda: logged(log_path, f'Iter(train) [13/{ITERS}]'),
             'iteration 13')
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=120) == REQUEUE_STATUS == 75
    with open(log_path) as f:
        log = f.read()
    saved = last_checkpoint(work)
    step = int(saved[len('iter_'):-len('.pth')])
    print(f'SIGTERM after iteration 13: saved {saved}')
    assert 13 <= step < 20  # the iteration the signal interrupted
    assert f'SIGTERM: saved {work / saved} after iteration {step} of ' \
        f'{ITERS}; exiting with status 75' in log
    assert load_checkpoint_file(work / saved, 'cpu')['meta']['iter'] == step
    check_resumed(data_root, work, tmp_path, resumed_at=step)


def test_resume_skips_an_incomplete_checkpoint(tmp_path, log):
    """A plain CheckpointHook (or a copy) can leave ``iter_N.pth`` cut
    short with ``last_checkpoint`` naming it: --resume takes the newest
    complete one, with a warning."""
    whole = tmp_path / 'iter_10.pth'
    torch.save({'meta': {'iter': 10}}, str(whole))
    data = whole.read_bytes()
    (tmp_path / 'iter_20.pth').write_bytes(data[:len(data) // 2])
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_20.pth'))
    assert latest_complete_checkpoint(str(tmp_path)) == str(whole)
    out = log.text
    assert f'{tmp_path}/iter_20.pth: incomplete checkpoint' in out
    assert 'resuming from ' + str(whole) in out
    # An empty last_checkpoint (killed while mmengine wrote it) too.
    (tmp_path / 'last_checkpoint').write_text('')
    assert latest_complete_checkpoint(str(tmp_path)) == str(whole)
    # Nothing complete left: an error, not a silent restart from 0.
    whole.unlink()
    with pytest.raises(Exception, match='holds no complete checkpoint'):
        latest_complete_checkpoint(str(tmp_path))
    # A new work dir (no last_checkpoint, no checkpoint): a new run.
    assert latest_complete_checkpoint(str(tmp_path / 'new')) is None


def test_atomic_backend_is_opt_in(tmp_path):
    """Importing ftan_opencd leaves mmengine's local backend as it is; the
    atomic one is used by name and leaves no temporary file."""
    from mmengine.fileio import LocalBackend, get_file_backend
    from ftan_opencd.engine import AtomicLocalBackend
    path = str(tmp_path / 'iter_1.pth')
    assert type(get_file_backend(path)) is LocalBackend
    backend = get_file_backend(
        path, backend_args=dict(backend='ftan_atomic_local'))
    assert isinstance(backend, AtomicLocalBackend)
    backend.put(b'0123', path)
    backend.put_text('x', str(tmp_path / 'last_checkpoint'))
    assert sorted(os.listdir(tmp_path)) == ['iter_1.pth', 'last_checkpoint']
    assert (tmp_path / 'iter_1.pth').read_bytes() == b'0123'
