"""Every shipped config loads with mmengine and builds its model on CPU."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from opencd.registry import MODELS
from .conftest import REPO

pytestmark = pytest.mark.needs_torchvision  # builds open-cd models

CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True)
    if '_base_' not in p and '/benchmark/' not in p)
# Model-only configs of tools/benchmark.py (files starting with _ are bases).
BENCHMARK_CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', 'benchmark', '[!_]*.py')))


def test_configs_found():
    names = {osp.relpath(p, osp.join(REPO, 'configs')) for p in CONFIGS}
    assert 'ftan/ftan-b_256x256_200e_levircd.py' in names
    assert len([n for n in names if n.startswith('ftan/ablation/')]) == 6
    assert len([n for n in names if n.startswith('dropin/')]) == 2


@pytest.mark.parametrize(
    'path', CONFIGS, ids=lambda p: osp.relpath(p, osp.join(REPO, 'configs')))
def test_config_loads_and_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'opencd'
    assert cfg.custom_imports == dict(
        imports=['ftan_opencd'], allow_failed_imports=False)
    for key in ('train_dataloader', 'val_evaluator', 'optim_wrapper',
                'train_cfg', 'default_hooks'):
        assert key in cfg, f'{path} lacks {key}'
    model = MODELS.build(cfg.model)
    model.eval()
    bands = cfg.model.get('backbone_inchannels', 3)  # per date
    with torch.no_grad():
        out = model(torch.rand(1, 2 * bands, 64, 64) * 255, mode='tensor')
    # FTANHead and BITHead predict at full size, SegformerHead at H/4.
    assert out.shape[:2] == (1, 2) and out.shape[2:] in ((64, 64), (16, 16))


def test_paper_recipe():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/ftan/ftan-b_256x256_200e_levircd.py'))
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay) == ('AdamW', 1e-4, 0.1)
    assert cfg.train_dataloader.batch_size == 24
    assert cfg.model.pretrained is None
    assert cfg.model.test_cfg == dict(
        mode='slide', crop_size=(256, 256), stride=(256, 256))
    assert cfg.model.decode_head.loss_decode.type == 'mmseg.CrossEntropyLoss'
    assert cfg.default_hooks.checkpoint.save_best == 'F1'
    types = [t['type'] for t in cfg.train_pipeline]
    assert 'BitemporalGaussianBlur' in types and \
        'BitemporalColorJitter' in types
    whole = Config.fromfile(osp.join(
        REPO, 'configs/ftan/ftan-b_256x256_200e_levircd_whole-test.py'))
    assert whole.model.test_cfg == dict(mode='whole')


def test_ablation_rows_differ_as_in_the_paper():
    rows = {}
    for name in ('mcfa-only', 'iam-only', 'baseline-changeformer-v6'):
        rows[name] = Config.fromfile(osp.join(
            REPO, f'configs/ftan/ablation/{name}_256x256_200e_levircd.py'))
    assert rows['mcfa-only'].model.backbone.type == 'FTANBackbone'
    assert rows['mcfa-only'].model.decode_head.with_iam is False
    for name in ('iam-only', 'baseline-changeformer-v6'):
        backbone = rows[name].model.backbone
        assert backbone.type == 'mmseg.MixVisionTransformer'
        assert backbone.num_layers == [3, 3, 4, 3]
        assert backbone.sr_ratios == [8, 4, 2, 1]
        widths = [backbone.embed_dims * h for h in backbone.num_heads]
        assert widths == [64, 128, 320, 512]
    assert rows['iam-only'].model.decode_head.with_iam is True
    assert rows['baseline-changeformer-v6'].model.decode_head.with_iam is \
        False


@pytest.mark.parametrize('path', BENCHMARK_CONFIGS, ids=osp.basename)
def test_benchmark_model_config_builds(path):
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
