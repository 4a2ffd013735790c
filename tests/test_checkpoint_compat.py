"""Checkpoints round-trip through mmengine on every supported torch.

torch >= 2.6 loads with ``weights_only=True`` by default, which refuses
mmengine 0.10.7's checkpoints; importing ftan_opencd re-registers the local
loader. This test needs no open-cd model, so it also runs in the modern
environment of ``make test-modern`` (torch 2.13, numpy 2).
"""
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint
from torch.utils.data import Dataset

from ftan_opencd.models.backbones import FTANBackbone
from ftan_opencd.utils import checkpoint_compat

# Model-only test: no open-cd model package needed (see conftest).
REGISTRY_SCOPE = 'mmseg'


class PairSet(Dataset):
    """Eight fixed random images with a scalar target each."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.items = [(rng.random((3, 32, 32), np.float32),
                       np.float32(rng.random())) for _ in range(8)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return self.items[idx]


class Regressor(BaseModel):
    """A tiny FTAN backbone with a linear read-out."""

    def __init__(self):
        super().__init__()
        self.backbone = FTANBackbone(
            arch=dict(embed_dims=[8, 16], depths=[1, 1], mlp_ratios=[2, 2]),
            out_indices=(0, 1))
        self.fc = nn.Linear(16, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        pred = self.fc(self.backbone(inputs)[-1].mean((2, 3))).squeeze(1)
        if mode == 'loss':
            return dict(loss=((pred - targets)**2).mean())
        return pred


def make_runner(work_dir, max_iters, resume=False):
    return Runner(
        model=Regressor(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=PairSet(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            interval=max_iters)),
        randomness=dict(seed=0),
        resume=resume,
        default_scope='mmengine')


def test_compat_loader_matches_torch_version():
    major, minor = (int(v) for v in torch.__version__.split('.')[:2])
    assert checkpoint_compat.allow_full_checkpoint_loading() == (
        (major, minor) >= (2, 6))


def test_save_resume_and_load_round_trip(tmp_path):
    make_runner(tmp_path, 2).train()
    saved = torch.load(tmp_path / 'iter_2.pth', map_location='cpu',
                       weights_only=False)
    # More than tensors: torch >= 2.6's default (weights_only) refuses it.
    with pytest.raises(Exception):
        torch.load(tmp_path / 'iter_2.pth', weights_only=True)
    runner = make_runner(tmp_path, 3, resume=True)
    runner.train()
    assert runner.iter == 3
    # resume restored iteration 2's optimizer step count before stepping
    step = runner.optim_wrapper.state_dict()['state'][0]['step']
    assert int(step) == 3
    model = Regressor()
    load_checkpoint(model, str(tmp_path / 'iter_2.pth'), map_location='cpu')
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, saved['state_dict'][name],
                                   rtol=0, atol=0)
