"""Checks of a config before a tool runs it: the config defines what the
tool needs (not a model-only file), and ``--cfg-options`` changes nothing
that OpenMMLab resolved when the file was parsed."""
import os.path as osp

from mmengine.config import Config

from ..datasets import DATA_SPLITS
from ..errors import UserError

# Top-level variables that --cfg-options cannot change (OpenMMLab resolves
# them when the config file is parsed), with what to use instead.
BAKED_VARIABLES = {
    'tile_root': '--data-root DIR (train, val and test) or '
    'train_dataloader.dataset.data_root=DIR',
    'max_iters': 'tools/train.py --iters N (it rescales the schedule too)',
    'val_interval': 'tools/train.py --iters N, or train_cfg.val_interval=N '
    'and default_hooks.checkpoint.interval=N',
}
# What each tool needs besides the model, by the loop it runs.
RUNNABLE_KEYS = {
    'train': ('default_scope', 'train_dataloader', 'train_cfg',
              'optim_wrapper'),
    'test': ('default_scope', 'test_dataloader', 'test_evaluator',
             'test_cfg'),
}
DATALOADERS = tuple(f'{split}_dataloader' for split in DATA_SPLITS)
EXAMPLE_CONFIG = 'configs/demo/ftan-tiny_128x128_demo-cd_cpu.py'


def model_only_hint(path: str) -> str:
    """What to use instead of the config ``path`` that cannot run.

    Args:
        path (str): The config file.

    Returns:
        str: ``use <folder>/learn/<name>`` when that runnable config exists
        (the benchmark's model-only files have one), else how to compose a
        complete config.
    """
    runnable = osp.join(osp.dirname(path), 'learn', osp.basename(path))
    if osp.isfile(runnable):
        return f'use {runnable}'
    return ('compose a complete config with _base_ = [a model, a data set '
            '(configs/_base_/datasets/), a schedule, '
            "configs/_base_/default_runtime.py (default_scope='opencd')], "
            f'like {EXAMPLE_CONFIG}')


def check_runnable(cfg: Config, path: str, purpose: str) -> None:
    """Refuse a config that lacks what ``tools/<purpose>.py`` runs.

    Without this, a model-only file (e.g. ``configs/benchmark/bit-r18.py``,
    which only ``tools/benchmark.py`` reads) fails deep in mmengine with
    ``KeyError: 'SiamEncoderDecoder is not in the mmengine::model
    registry'`` (no ``default_scope``) or a missing dataloader.

    Args:
        cfg (Config): The loaded config.
        path (str): Its file, for the message.
        purpose (str): ``'train'`` or ``'test'`` (:data:`RUNNABLE_KEYS`).

    Raises:
        UserError: Naming the missing keys and what to use instead.
    """
    missing = [key for key in RUNNABLE_KEYS[purpose]
               if cfg.get(key) is None]
    if 'model' not in cfg:
        missing.insert(0, 'model')
    if not missing:
        return
    model_only = 'model' in cfg and not any(
        cfg.get(key) for key in DATALOADERS)
    what = ('it is a model-only file (a model for tools/benchmark.py, '
            'without data, schedule or runtime)' if model_only else
            f'tools/{purpose}.py needs them')
    raise UserError(f'{path} defines no {"/".join(missing)}: {what}; '
                    f'{model_only_hint(path)}')


def check_baked_variables(options: dict) -> None:
    """Refuse top-level ``--cfg-options`` keys that would change nothing.

    Args:
        options (dict): ``--cfg-options`` (without ``data_root``).

    Raises:
        UserError: Naming the ineffective keys and what to use instead.
    """
    baked = [key for key in options if key in BAKED_VARIABLES]
    if baked:
        lines = [f'  {key}: use {BAKED_VARIABLES[key]}' for key in baked]
        raise UserError(
            '--cfg-options ' + ', '.join(baked) + ': top-level config '
            'variables are resolved when the config file is parsed, so '
            'overriding them has no effect. Instead:\n' + '\n'.join(lines))
