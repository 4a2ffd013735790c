"""The zoo models as runnable configs (configs/benchmark/learn/*.py): they
load, build and train with tools/train.py like FTAN; the model-only files
give a clear message; `tools/benchmark.py learn` on given folders and an
extra FTAN config."""
import glob
import json
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.runner import Runner

from ftan_tools.benchmark.zoo import MODEL_NAMES
from ftan_tools.datasets.synthetic import write_dataset
from ftan_opencd.cli import load_config
from ftan_opencd.datasets import data_roots
from ftan_opencd.errors import UserError
from opencd.registry import MODELS
from .conftest import DEMO_CONFIG, REPO, load_tool
from .test_training import run_tool

pytestmark = pytest.mark.needs_torchvision  # builds open-cd models

BENCHMARK = osp.join(REPO, 'configs', 'benchmark')
LEARN_CONFIGS = sorted(glob.glob(osp.join(BENCHMARK, 'learn', '*.py')))
# Keeps the tool runs small: 64 px images, batch 2, no loader processes.
SMALL = ['train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False',
         'val_dataloader.num_workers=0',
         'val_dataloader.persistent_workers=False']


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('zoo-data'))
    write_dataset(root, seed=3, size=64, counts=dict(train=4, val=2, test=2))
    return root


def test_every_zoo_model_has_a_runnable_config():
    names = {osp.splitext(osp.basename(p))[0] for p in LEARN_CONFIGS}
    assert names == set(MODEL_NAMES)


@pytest.mark.parametrize('path', LEARN_CONFIGS, ids=osp.basename)
def test_zoo_config_builds_model_data_and_evaluator(path, data_root):
    cfg = load_config(path, data_root=data_root, purpose='train')
    assert cfg.default_scope == 'opencd'
    assert cfg.custom_imports.imports == ['ftan_opencd']
    assert data_roots(cfg) == dict(train=[data_root], val=[data_root],
                                   test=[data_root])
    # The model of the speed benchmark, the schedule of the recipe.
    name = osp.basename(path)
    assert cfg.model == Config.fromfile(osp.join(BENCHMARK, name)).model
    recipe = Config.fromfile(osp.join(BENCHMARK, '_learning_.py'))
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert cfg[key] == recipe[key], key
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False,
                                batch_size=2)
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    assert len(batch['inputs']) == 2
    assert batch['inputs'][0].shape == (6, 64, 64)  # two dates, 64 px
    for key in ('val_evaluator', 'test_evaluator'):
        evaluator = Evaluator(cfg[key])
        assert type(evaluator.metrics[0]).__name__ == 'ChangeMetric'


@pytest.mark.parametrize('name', ['bit-r18', 'fc-siam-diff'])
def test_train_tool_trains_a_zoo_model(name, data_root, tmp_path):
    work = tmp_path / 'work'
    log = run_tool('tools/train.py',
                   osp.join(BENCHMARK, 'learn', f'{name}.py'),
                   '--data-root', data_root, '--iters', '2', '--work-dir',
                   str(work), '--cfg-options', *SMALL)
    assert f'train data root: {data_root}' in log
    assert 'Iter(train) [2/2]' in log
    assert 'Iter(val) [2/2]' in log  # validated once, at the end
    assert (work / 'iter_2.pth').is_file()


def test_model_only_config_names_the_runnable_one(data_root):
    path = osp.join(BENCHMARK, 'bit-r18.py')
    with pytest.raises(UserError) as error:
        load_config(path, data_root=data_root, purpose='train')
    message = str(error.value)
    assert 'defines no default_scope/train_dataloader' in message
    assert 'model-only file' in message
    assert message.endswith(
        'use ' + osp.join(BENCHMARK, 'learn', 'bit-r18.py'))
    with pytest.raises(UserError, match='test_dataloader.*model-only'):
        load_config(path, purpose='test')
    load_config(path)  # without a purpose (e.g. the benchmark): no check


def test_train_tool_refuses_model_only_config_in_one_line():
    import subprocess
    import sys
    result = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/benchmark/bit-r18.py'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        'error: configs/benchmark/bit-r18.py defines no default_scope/'
        'train_dataloader/train_cfg/optim_wrapper: it is a model-only file '
        '(a model for tools/benchmark.py, without data, schedule or '
        'runtime); use configs/benchmark/learn/bit-r18.py')
    assert 'Traceback' not in result.stdout + result.stderr


def test_learning_comparison_with_test_root_and_ftan_config(
        data_root, tmp_path):
    test_root = str(tmp_path / 'other-test')
    write_dataset(test_root, seed=4, size=64, counts=dict(test=3))
    out = tmp_path / 'learn'
    report = load_tool('benchmark').main([
        'learn', '--models', 'fc-siam-diff', '--config', DEMO_CONFIG,
        '--data-root', data_root, '--test-root', test_root, '--iters', '2',
        '--batch', '2', '--out', str(out)])
    demo = 'ftan-tiny_128x128_demo-cd_cpu'
    settings = report['settings']
    assert settings['models'] == ['fc-siam-diff', demo]
    assert settings['splits'] == dict(
        train=osp.join(data_root, 'train'), val=osp.join(data_root, 'val'),
        test=osp.join(test_root, 'test'))
    assert settings['configs'] == {demo: DEMO_CONFIG}
    assert json.loads((out / 'learning.json').read_text()) == report
    for name in ('fc-siam-diff', demo):
        result = report['results'][name]
        log = (out / name / 'train_test.log').read_text()
        assert 'metrics' in result, log[-3000:]
        assert set(result['val_metrics']) >= {'F1', 'IoU'}
        assert f'test data root: {test_root}' in log
        assert 'Iter(test) [3/3]' in log  # the other folder's 3 pairs
        cfg = Config.fromfile(str(out / name / f'{name}_learning.py'))
        assert cfg.test_dataloader.dataset.data_root == test_root
        assert cfg.train_dataloader.batch_size == 2
    demo_cfg = Config.fromfile(str(out / demo / f'{demo}_learning.py'))
    assert demo_cfg.model == Config.fromfile(DEMO_CONFIG).model
    assert report['results']['fc-siam-diff']['config'] == osp.join(
        REPO, 'configs', 'benchmark', 'learn', 'fc-siam-diff.py')
    markdown = (out / 'learning.md').read_text()
    assert f'test `{osp.join(test_root, "test")}`' in markdown
    assert f'| {demo} |' in markdown and '| Val F1 |' in markdown
