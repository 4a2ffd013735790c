"""Checkpoints load without running code from them, on every torch.

mmengine checkpoints written by training load (and resume) without any
opt-in; a pickle that imports anything else is refused before it runs.
These tests need no open-cd model, so they also run in the modern
environment of ``make test-modern`` (torch >= 2.6, numpy 2), where torch's
own weights-only unpickler does the work.
"""
import datetime
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner
from torch.utils.data import Dataset

from ftan_opencd.models.backbones import FTANBackbone
from ftan_opencd.utils import (CheckpointError, UnsafeCheckpointError,
                               check_state_dict, load_checkpoint_file,
                               load_weights, register_safe_globals,
                               safe_checkpoint_loading)
from .conftest import REPO

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


TORCH_SAFE_LOAD = tuple(int(v) for v in torch.__version__.split('.')[:2]) \
    >= (2, 6)


class Payload:
    """Unpickling it writes ``marker``: what a malicious .pth does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (eval, (f'open({self.marker!r}, "w").write("pwned")', ))


def malicious_checkpoint(path, marker):
    weights = Regressor().state_dict()
    torch.save(dict(state_dict=weights, meta=dict(note=Payload(marker))),
               path)


def test_safe_globals_registered_only_where_torch_has_an_allowlist():
    assert register_safe_globals() == TORCH_SAFE_LOAD


def test_save_resume_and_load_round_trip(tmp_path):
    with safe_checkpoint_loading():
        make_runner(tmp_path, 2).train()
        saved = load_checkpoint_file(tmp_path / 'iter_2.pth', 'cpu')
        assert isinstance(saved['message_hub']['log_scalars']['train/loss'],
                          HistoryBuffer)
        runner = make_runner(tmp_path, 3, resume=True)
        runner.train()
    assert runner.iter == 3
    # resume restored iteration 2's optimizer step count before stepping
    step = runner.optim_wrapper.state_dict()['state'][0]['step']
    assert int(step) == 3
    model = Regressor()
    load_weights(model, str(tmp_path / 'iter_2.pth'), 'cpu')
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, saved['state_dict'][name],
                                   rtol=0, atol=0)


@pytest.mark.parametrize('trusted_via', ['api', 'tool'])
def test_malicious_checkpoint_is_refused_and_never_runs(tmp_path,
                                                         trusted_via):
    path, marker = tmp_path / 'evil.pth', tmp_path / 'marker'
    malicious_checkpoint(path, marker)
    with pytest.raises(UnsafeCheckpointError) as info:
        if trusted_via == 'api':
            load_weights(Regressor(), str(path))
        else:
            with safe_checkpoint_loading():
                CheckpointLoader.load_checkpoint(str(path))
    message = str(info.value)
    assert str(path) in message
    assert 'eval' in message  # the offending global
    assert '--trust-checkpoint' in message
    assert 'trust_checkpoint=True' in message
    assert not marker.exists()


def test_trusted_opt_in_unpickles_fully(tmp_path):
    path, marker = tmp_path / 'evil.pth', tmp_path / 'marker'
    malicious_checkpoint(path, marker)
    load_checkpoint_file(path, trusted=True)
    assert marker.read_text() == 'pwned'


def test_history_buffer_lookup_is_the_only_getattr(tmp_path):
    # What mmengine really pickles: getattr(HistoryBuffer, 'min') ...
    buffer = HistoryBuffer([1.0, 3.0], [1, 1])
    path = tmp_path / 'hub.pth'
    torch.save(dict(hub=buffer, arr=np.arange(3.0), x=np.float64(2.5)), path)
    loaded = load_checkpoint_file(path)
    assert loaded['hub'].mean() == 2.0
    np.testing.assert_array_equal(loaded['arr'], [0.0, 1.0, 2.0])
    assert loaded['x'] == 2.5

    # ... but getattr(HistoryBuffer, '__init__') leads towards __globals__.
    class Sneaky:

        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    torch.save(dict(meta=Sneaky()), path)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        load_checkpoint_file(path)


def test_importing_the_package_changes_no_loader_for_others(tmp_path):
    """Outside the tools' context, mmengine loads as it always does: fully
    on torch < 2.6, weights-only (refusing foreign types) on torch >= 2.6.
    """
    path = tmp_path / 'dated.pth'
    torch.save(dict(state_dict={}, when=datetime.date(2024, 1, 1)), path)
    if TORCH_SAFE_LOAD:
        with pytest.raises(pickle.UnpicklingError):
            CheckpointLoader.load_checkpoint(str(path))
    else:
        assert CheckpointLoader.load_checkpoint(str(path))['when'].year == 2024
    with safe_checkpoint_loading(), pytest.raises(UnsafeCheckpointError,
                                                  match='datetime.date'):
        CheckpointLoader.load_checkpoint(str(path))
    with safe_checkpoint_loading(trusted=True):
        assert CheckpointLoader.load_checkpoint(str(path))['when'].year == 2024


@pytest.mark.parametrize('content', [b'', b'not a checkpoint\n', None])
def test_files_that_are_not_checkpoints(tmp_path, content):
    path = tmp_path / 'x.pth'
    if content is None:
        path.mkdir()
        with pytest.raises(FileNotFoundError, match='is a directory'):
            load_checkpoint_file(path)
        return
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint_file(path)


def test_strict_fit_names_keys_and_shapes(tmp_path):
    model = Regressor()
    other = Regressor()
    other.fc = nn.Linear(16, 2)
    checkpoint = dict(state_dict=other.state_dict(),
                      meta=dict(experiment_name='wide_20240101'))
    with pytest.raises(CheckpointError) as info:
        check_state_dict(model, checkpoint, 'w.pth')
    message = str(info.value)
    assert 'fc.weight: checkpoint (2, 16) vs model (1, 16)' in message
    assert 'trained as wide_20240101' in message
    torch.save(checkpoint, tmp_path / 'w.pth')
    before = model.fc.weight.clone()
    load_weights(model, str(tmp_path / 'w.pth'), strict=False)
    torch.testing.assert_close(model.fc.weight, before)  # not loaded
    torch.testing.assert_close(model.backbone.state_dict(),
                               other.backbone.state_dict())


def test_published_safetensors_load_like_the_checkpoint(tmp_path):
    with safe_checkpoint_loading():
        make_runner(tmp_path, 1).train()
    sys.path.insert(0, osp.join(REPO, 'tools'))
    try:
        from publish_model import publish
    finally:
        sys.path.pop(0)
    path = publish(str(tmp_path / 'iter_1.pth'), str(tmp_path / 'pub/reg'))
    sha = subprocess.run(['sha256sum', path], capture_output=True,
                         text=True).stdout.split()[0]
    assert osp.basename(path) == f'reg-{sha[:8]}.safetensors'
    published = load_checkpoint_file(path)
    assert published['meta']['iter'] == 1
    assert published['meta']['sha256'] == sha
    assert set(published) == {'state_dict', 'meta'}  # no optimizer, hub
    model = Regressor()
    load_weights(model, path)
    original = load_checkpoint_file(tmp_path / 'iter_1.pth')['state_dict']
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, original[name], rtol=0, atol=0)


def cut_in_half(path):
    content = path.read_bytes()
    path.write_bytes(content[:len(content) // 2])


@pytest.mark.parametrize('fmt', ['zip', 'legacy', 'safetensors'])
def test_checkpoint_cut_short_is_called_truncated(tmp_path, fmt):
    weights = Regressor().state_dict()
    if fmt == 'safetensors':
        from safetensors.torch import save_file
        path = tmp_path / 'model.safetensors'
        save_file({k: v.contiguous() for k, v in weights.items()}, str(path))
    else:
        path = tmp_path / 'model.pth'
        torch.save(dict(state_dict=weights, meta={}), str(path),
                   _use_new_zipfile_serialization=fmt == 'zip')
    assert len(load_checkpoint_file(path)['state_dict']) == len(weights)
    cut_in_half(path)
    for trusted in (False, True):
        with pytest.raises(CheckpointError) as error:
            load_checkpoint_file(path, trusted=trusted)
        message = str(error.value)
        assert str(path) in message
        assert 'looks truncated (an incomplete download or copy)' in message
        assert 'download or copy it again' in message


def test_other_unreadable_files_are_not_called_truncated(tmp_path):
    path = tmp_path / 'x.pth'
    path.write_bytes(b'PK\x03\x04' + bytes(100) + b'PK\x05\x06' + bytes(18))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint_file(path)
    assert 'cannot read' in str(error.value)
    assert 'truncated' not in str(error.value)
