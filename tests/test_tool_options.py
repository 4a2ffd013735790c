"""tools/train.py and tools/test.py options for one's own data: --data-root
(and a top-level ``data_root`` in --cfg-options), --iters with the schedule
check, and ChangeMetric's metric names."""
import logging
import os.path as osp
import sys

import numpy as np
import pytest
import torch

from ftan_tools.datasets.synthetic import write_dataset
from ftan_opencd.cli import load_config
from ftan_opencd.datasets import data_roots
from ftan_opencd.engine import check_schedule, set_train_iters
from opencd.registry import METRICS
from .conftest import REPO, load_tool
from .test_training import DEMO_CFG, run_tool, tiny_options

LEVIR_CFG = osp.join(REPO, 'configs/ftan/ftan-b_256x256_200e_levircd.py')
CFG_40K = osp.join(REPO, 'configs/ftan/ftan-b_256x256_40k_levircd.py')
# tiny_options' keys that --data-root and --iters replace.
REPLACED = ('train_dataloader.dataset.data_root',
            'val_dataloader.dataset.data_root',
            'test_dataloader.dataset.data_root', 'train_cfg.max_iters',
            'train_cfg.val_interval', 'default_hooks.checkpoint.interval')


@pytest.fixture(scope='module')
def own_data(tmp_path_factory):
    """A tiny data set in LEVIR-CD layout, elsewhere than the demo data."""
    root = str(tmp_path_factory.mktemp('own-data'))
    write_dataset(root, seed=2, size=64, counts=dict(train=4, val=2, test=2))
    return root


def tool_config(monkeypatch, tool, *argv):
    """The config that ``tools/<tool>.py argv`` would run."""
    module = load_tool(tool)
    monkeypatch.setattr(sys, 'argv', [f'{tool}.py', *argv])
    return module.build_config(module.parse_args())


def warnings_of(log):
    return [r.getMessage() for r in log.records
            if r.levelno >= logging.WARNING]


def schedule(cfg):
    return [(s.type, s.begin, s.end) for s in cfg.param_scheduler]


# ---------------------------------------------------------------- data root
def test_data_root_moves_all_splits_including_levir_tiles(
        monkeypatch, own_data, log):
    cfg = tool_config(monkeypatch, 'train', LEVIR_CFG, '--data-root',
                      own_data)
    assert data_roots(cfg) == dict(train=[own_data], val=[own_data],
                                   test=[own_data])
    # data_prefix is kept; the dumped variables tell the truth.
    assert cfg.train_dataloader.dataset.data_prefix.img_path_from == \
        'train/A'
    assert cfg.test_dataloader.dataset.data_prefix.seg_map_path == \
        'test/label'
    assert cfg.data_root == cfg.tile_root == own_data
    messages = [r.getMessage() for r in log.records]
    assert f'train data root: {own_data}' in messages
    assert f'val data root: {own_data}' in messages


def test_top_level_data_root_cfg_option_is_not_ignored(
        monkeypatch, own_data, tmp_path, log):
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'')  # only its existence is checked here
    cfg = tool_config(monkeypatch, 'test', DEMO_CFG, str(checkpoint),
                      '--cfg-options', f'data_root={own_data}')
    assert data_roots(cfg) == dict(train=[own_data], val=[own_data],
                                   test=[own_data])
    assert f'test data root: {own_data}' in [
        r.getMessage() for r in log.records]


def test_specific_cfg_option_still_wins_over_data_root(own_data):
    cfg = load_config(DEMO_CFG, data_root=own_data, cfg_options={
        'train_dataloader.dataset.data_root': 'data/tiles'})
    assert data_roots(cfg) == dict(train=['data/tiles'], val=[own_data],
                                   test=[own_data])


def test_missing_data_root_names_the_folder(tmp_path):
    missing = str(tmp_path / 'no-such-folder')
    with pytest.raises(FileNotFoundError, match='--data-root .*no-such'):
        load_config(DEMO_CFG, data_root=missing)
    with pytest.raises(FileNotFoundError,
                       match='--cfg-options data_root .*no-such'):
        load_config(DEMO_CFG, cfg_options=dict(data_root=missing))


def test_contradicting_or_ineffective_options_are_refused(own_data, tmp_path):
    with pytest.raises(ValueError, match='disagree'):
        load_config(DEMO_CFG, data_root=own_data,
                    cfg_options=dict(data_root=str(tmp_path)))
    with pytest.raises(ValueError, match='tile_root.*--data-root'):
        load_config(LEVIR_CFG, cfg_options=dict(tile_root=own_data))
    with pytest.raises(ValueError, match='max_iters.*--iters'):
        load_config(DEMO_CFG, cfg_options=dict(max_iters=600))


@pytest.mark.needs_torchvision  # builds an open-cd model
def test_train_and_test_tools_read_the_given_root(own_data, tmp_path):
    """The demo config on another folder: 4 train / 2 test pairs, not the
    demo data's 200 / 40."""
    options = [o for o in tiny_options(own_data, 2)
               if not o.startswith(REPLACED)]
    work = tmp_path / 'work'
    log = run_tool('tools/train.py', DEMO_CFG, '--work-dir', str(work),
                   '--data-root', own_data, '--iters', '2',
                   '--cfg-options', *options)
    assert f'train data root: {own_data}' in log
    assert 'Iter(train) [2/2]' in log
    assert 'ends at iteration' not in log  # --iters kept the schedule whole
    checkpoint = work / 'iter_2.pth'
    assert checkpoint.is_file()
    log = run_tool('tools/test.py', DEMO_CFG, str(checkpoint), '--work-dir',
                   str(work), '--cfg-options', f'data_root={own_data}',
                   *options)
    assert f'test data root: {own_data}' in log
    assert 'Iter(test) [2/2]' in log
    assert 'F1' in log
    assert 'The prefix is not set' not in log


# -------------------------------------------------------------------- iters
def test_iters_rescales_schedule_and_intervals(monkeypatch, log):
    cfg = tool_config(monkeypatch, 'train', DEMO_CFG, '--iters', '600')
    assert cfg.train_cfg.max_iters == 600
    assert schedule(cfg) == [('LinearLR', 0, 60), ('PolyLR', 60, 600)]
    assert cfg.train_cfg.val_interval == 600
    assert cfg.default_hooks.checkpoint.interval == 600
    assert warnings_of(log) == []

    cfg = tool_config(monkeypatch, 'train', CFG_40K, '--iters', '4000')
    assert schedule(cfg) == [('LinearLR', 0, 100), ('PolyLR', 100, 4000)]
    assert cfg.train_cfg.val_interval == 400
    assert cfg.default_hooks.checkpoint.interval == 400


def test_iters_keeps_short_schedules_valid():
    cfg = load_config(DEMO_CFG)
    set_train_iters(cfg, 5)
    # 30 / 300 * 5 = 0.5 rounds (half up) to 1.
    assert schedule(cfg) == [('LinearLR', 0, 1), ('PolyLR', 1, 5)]
    cfg = load_config(DEMO_CFG)
    set_train_iters(cfg, 2)
    # 30 / 300 * 2 = 0.2: at least 1, the same for the warm-up's end and
    # the decay's begin, so that they still follow each other.
    assert schedule(cfg) == [('LinearLR', 0, 1), ('PolyLR', 1, 2)]
    assert cfg.train_cfg.val_interval == 2
    assert cfg.default_hooks.checkpoint.interval == 2
    assert check_schedule(cfg) == []


def test_iters_refuses_what_it_cannot_rescale(monkeypatch):
    from ftan_opencd.errors import UserError
    cfg = load_config(DEMO_CFG)
    cfg.param_scheduler[0].by_epoch = True
    with pytest.raises(ValueError, match=r'param_scheduler\[0\].*epoch'):
        set_train_iters(cfg, 600)
    with pytest.raises(UserError, match='--iters alone'):
        tool_config(monkeypatch, 'train', DEMO_CFG, '--iters', '600',
                    '--cfg-options', 'train_cfg.max_iters=600')


@pytest.mark.parametrize('max_iters,relation', [(600, 'before'),
                                                (100, 'after')])
def test_schedule_not_matching_max_iters_warns(monkeypatch, log, max_iters,
                                               relation):
    cfg = tool_config(monkeypatch, 'train', DEMO_CFG, '--cfg-options',
                      f'train_cfg.max_iters={max_iters}')
    assert cfg.param_scheduler[1].end == 300  # what the user did not expect
    (message, ) = warnings_of(log)
    assert message.startswith(
        f'param_scheduler[1] (PolyLR) ends at iteration 300, {relation} '
        f'train_cfg.max_iters={max_iters}')
    assert '--iters N' in message


def test_schedule_check_follows_each_parameter():
    cfg = load_config(DEMO_CFG)
    assert check_schedule(cfg) == []  # the warm-up ends early, PolyLR not
    cfg.param_scheduler = [cfg.param_scheduler[0]]  # warm-up only
    (message, ) = check_schedule(cfg)
    assert 'param_scheduler[0] (LinearLR) ends at iteration 30' in message
    assert 'learning rate stays at its final value' in message


# ------------------------------------------------------------------- metric
@pytest.mark.parametrize('config', [DEMO_CFG, CFG_40K, LEVIR_CFG])
def test_change_metric_keys_are_what_save_best_reads(config, log):
    cfg = load_config(config)
    metric = METRICS.build(cfg.val_evaluator)
    assert not [r for r in log.records
                if 'prefix is not set' in r.getMessage()]
    metric.dataset_meta = dict(classes=('unchanged', 'changed'))
    gt = torch.as_tensor(np.array([[[0, 1], [1, 0]]]))
    metric.process({}, [dict(pred_sem_seg=dict(data=gt),
                             gt_sem_seg=dict(data=gt))])
    metrics = metric.evaluate(1)
    assert list(metrics) == [
        'precision', 'recall', 'F1', 'IoU', 'OA', 'Kappa', 'mIoU'
    ]
    assert cfg.default_hooks.checkpoint.save_best in metrics


def test_change_metric_explicit_prefix_still_applies():
    metric = METRICS.build(dict(type='ChangeMetric', prefix='cd'))
    metric.dataset_meta = dict(classes=('unchanged', 'changed'))
    gt = torch.ones(1, 2, 2, dtype=torch.long)
    metric.process({}, [dict(pred_sem_seg=dict(data=gt),
                             gt_sem_seg=dict(data=gt))])
    assert 'cd/F1' in metric.evaluate(1)
