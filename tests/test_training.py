"""Training and testing through the tools, resume, determinism, bf16."""
import os
import os.path as osp
import socket
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from ftan_tools.datasets.synthetic import write_dataset
from ftan_opencd.utils import load_checkpoint_file
from .conftest import REPO

pytestmark = pytest.mark.needs_torchvision  # builds open-cd models

DEMO_CFG = osp.join(REPO, 'configs/demo/ftan-tiny_128x128_demo-cd_cpu.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo-cd'))
    write_dataset(root, seed=1, size=64,
                  counts=dict(train=6, val=2, test=2))
    return root


def tiny_options(data_root, max_iters):
    """--cfg-options that shrink the demo config to seconds."""
    return [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.2.crop_size=(32,32)',
        f'train_cfg.max_iters={max_iters}',
        f'train_cfg.val_interval={max_iters}',
        f'default_hooks.checkpoint.interval={max_iters}',
        'default_hooks.logger.interval=1',
        'model.decode_head.channels=8',
    ]


def tiny_cfg(data_root, work_dir, max_iters):
    from mmengine.config import DictAction
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    options = parser.parse_args(
        ['--o'] + tiny_options(data_root, max_iters)).o
    cfg = Config.fromfile(DEMO_CFG)
    cfg.merge_from_dict(options)
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.visualization = dict(type='CDVisualizationHook')
    return cfg


def run_tool(*args):
    result = subprocess.run([sys.executable, *args], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + \
        result.stderr[-3000:]
    return result.stdout + result.stderr


def test_train_then_test_with_error_maps(data_root, tmp_path):
    work = tmp_path / 'work'
    run_tool('tools/train.py', DEMO_CFG, '--work-dir', str(work),
             '--cfg-options', *tiny_options(data_root, 2))
    ckpt = work / 'iter_2.pth'
    assert ckpt.is_file()
    assert (work / 'last_checkpoint').read_text().strip().endswith(
        'iter_2.pth')
    show = tmp_path / 'show'
    log = run_tool('tools/test.py', DEMO_CFG, str(ckpt), '--work-dir',
                   str(work), '--show-dir', str(show), '--cfg-options',
                   *tiny_options(data_root, 2))
    for key in ('precision', 'recall', 'F1', 'IoU', 'Kappa'):
        assert key in log
    panels = sorted(os.listdir(show))
    assert panels == ['test_0000.png', 'test_0001.png']
    panel = cv2.imread(str(show / panels[0]))
    assert panel.shape == (64, 3 * 64, 3)
    colours = {tuple(c) for c in panel[:, 128:].reshape(-1, 3)}
    assert colours <= {(255, 255, 255), (0, 0, 0), (0, 255, 0),
                       (0, 0, 255), (128, 128, 128)}


def test_resume_round_trip(data_root, tmp_path):
    Runner.from_cfg(tiny_cfg(data_root, tmp_path, 2)).train()
    saved = load_checkpoint_file(tmp_path / 'iter_2.pth', 'cpu')
    # Resuming at the end restores weights and optimizer state exactly.
    cfg = tiny_cfg(data_root, tmp_path, 2)
    cfg.resume, cfg.load_from = True, str(tmp_path / 'iter_2.pth')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    for name, value in runner.model.state_dict().items():
        torch.testing.assert_close(value, saved['state_dict'][name],
                                   rtol=0, atol=0)
    restored = runner.optim_wrapper.state_dict()['state']
    for idx, state in saved['optimizer']['state'].items():
        torch.testing.assert_close(restored[idx]['exp_avg'],
                                   state['exp_avg'], rtol=0, atol=0)
    # ... and training goes on from there.
    cfg = tiny_cfg(data_root, tmp_path, 3)
    cfg.resume = True  # auto: latest checkpoint in work_dir
    runner = Runner.from_cfg(cfg)
    runner.train()
    resumed = load_checkpoint_file(tmp_path / 'iter_3.pth', 'cpu')
    assert resumed['meta']['iter'] == 3
    name = 'backbone.stages.0.0.attn.mcfa.fdm.w_r'
    assert not torch.equal(resumed['state_dict'][name],
                           saved['state_dict'][name])


def losses_of_run(data_root, work_dir):
    cfg = tiny_cfg(data_root, work_dir, 3)
    cfg.randomness = dict(seed=123, deterministic=True)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg.val_interval = 100
    # Own message hub per run (the default name is a timestamp in seconds).
    cfg.experiment_name = f'determinism-{osp.basename(work_dir)}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner.message_hub.get_scalar('train/loss').data[0]


def test_same_seed_same_loss_curve(data_root, tmp_path):
    first = losses_of_run(data_root, tmp_path / 'a')
    second = losses_of_run(data_root, tmp_path / 'b')
    assert len(first) == 3
    np.testing.assert_array_equal(first, second)


def test_bf16_autocast_training_step_is_finite():
    from opencd.registry import MODELS
    from .conftest import tiny_model_cfg
    model = MODELS.build(tiny_model_cfg())
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(2):
        s = SegDataSample(gt_sem_seg=PixelData(
            data=torch.randint(0, 2, (1, 64, 64))))
        s.set_metainfo(dict(img_shape=(64, 64)))
        samples.append(s)
    seen = []
    fdm = model.backbone.stages[0][0].attn.mcfa.fdm
    fdm.proj.register_forward_pre_hook(
        lambda m, args: seen.append(args[0].dtype))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.loss(torch.randn(2, 6, 64, 64), samples)
    loss = losses['decode.loss_ce']
    loss.backward()
    assert torch.isfinite(loss)
    # The FFT path ran in float32; the 1x1 conv after it sees the input
    # dtype again (bf16 activations under autocast).
    assert seen and seen[0] == torch.bfloat16
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name


def test_two_process_gloo_training(data_root, tmp_path):
    """mmengine's launcher under torchrun: 2 CPU processes, gloo backend."""
    work = tmp_path / 'dist'
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={port}', 'tools/train.py', DEMO_CFG, '--launcher',
         'pytorch', '--work-dir', str(work), '--cfg-options',
         *tiny_options(data_root, 2), 'env_cfg.dist_cfg.backend=gloo'],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'Distributed launcher: pytorch' in log
    assert 'Distributed training: True' in log
    assert 'Iter(train) [2/2]' in log
    assert (work / 'iter_2.pth').is_file()


def test_open_cd_style_training_without_the_project_tools(data_root,
                                                          tmp_path):
    """What open-cd's own tools/train.py does: Config.fromfile, options,
    Runner.from_cfg(cfg).train(); the config's custom_imports alone brings
    FTAN in (nothing of ftan_opencd imported by hand)."""
    script = (
        'import sys\n'
        'from mmengine.config import Config, DictAction\n'
        'from mmengine.runner import Runner\n'
        'import argparse\n'
        'p = argparse.ArgumentParser()\n'
        "p.add_argument('--o', nargs='+', action=DictAction)\n"
        "assert 'ftan_opencd' not in sys.modules\n"
        'cfg = Config.fromfile(sys.argv[1])  # runs custom_imports\n'
        'cfg.merge_from_dict(p.parse_args(sys.argv[3:]).o)\n'
        'cfg.work_dir = sys.argv[2]\n'
        'Runner.from_cfg(cfg).train()\n')
    run_tool('-c', script, DEMO_CFG, str(tmp_path), '--o',
             *tiny_options(data_root, 2))
    assert (tmp_path / 'iter_2.pth').is_file()


def test_amp_training_and_testing_on_cpu(data_root, tmp_path):
    """--amp on CPU: bf16 autocast where native (this wrapper in the dumped
    config), float32 with a log line elsewhere; finite losses either way."""
    from ftan_opencd.utils.precision import cpu_bf16_flags
    work = tmp_path / 'amp'
    log = run_tool('tools/train.py', DEMO_CFG, '--work-dir', str(work),
                   '--amp', '--cfg-options', *tiny_options(data_root, 2))
    dumped = Config.fromfile(str(work / osp.basename(DEMO_CFG)))
    if cpu_bf16_flags():
        assert '--amp: bfloat16 autocast on the CPU' in log
        assert dumped.optim_wrapper.type == 'BF16AutocastOptimWrapper'
    else:
        assert 'running float32' in log
        assert dumped.optim_wrapper.type == 'OptimWrapper'
    losses = [float(line.split('loss: ')[1].split()[0])
              for line in log.splitlines() if 'Iter(train)' in line]
    assert losses and all(np.isfinite(losses))
    log = run_tool('tools/test.py', DEMO_CFG, str(work / 'iter_2.pth'),
                   '--work-dir', str(work), '--amp', '--cfg-options',
                   *tiny_options(data_root, 2))
    assert 'F1' in log
