"""The benchmarked models: names, configs and seeded construction."""
import argparse
import copy
import logging
import os
import os.path as osp
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MMLogger

# Benchmarked models: configs/benchmark/<name>.py (random init, BN).
MODEL_NAMES = ('ftan-t', 'ftan-s', 'ftan-b', 'changeformer-v6',
               'changeformer-mit-b0', 'bit-r18', 'fc-siam-diff', 'snunet-c16')
DEFAULT_MODELS = MODEL_NAMES
CONFIGS_ENV = 'FTAN_CONFIGS'


def config_dir() -> str:
    """The project's ``configs/`` folder, which the benchmark reads.

    Taken from ``$FTAN_CONFIGS`` (``tools/benchmark.py --configs``) when
    set, else ``./configs``, else the checkout this package is installed
    from.

    Raises:
        FileNotFoundError: The folder given holds no ``benchmark/ftan-b.py``
            (a wrong folder is refused, not replaced by another), or,
            with none given, neither default does.
    """
    def holds_configs(folder: str) -> bool:
        return osp.isfile(osp.join(folder, 'benchmark', 'ftan-b.py'))

    given = os.environ.get(CONFIGS_ENV)
    if given:
        if not holds_configs(given):
            raise FileNotFoundError(
                f'--configs / ${CONFIGS_ENV} {given} is not the configs/ '
                'folder of ftan-opencd (no benchmark/ftan-b.py in it)')
        return osp.abspath(given)
    checkout = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    for folder in ('configs', osp.join(checkout, 'configs')):
        if holds_configs(folder):
            return osp.abspath(folder)
    raise FileNotFoundError(
        'the benchmark needs the configs/ folder of ftan-opencd (with '
        'configs/benchmark/*.py); pass it with --configs DIR or '
        f'${CONFIGS_ENV}=DIR')


def add_configs_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--configs``, the folder :func:`config_dir` returns.

    Args:
        parser (argparse.ArgumentParser): A parser of tools/benchmark.py.
    """
    parser.add_argument(
        '--configs', default=None,
        help=f'ftan-opencd configs/ folder (also ${CONFIGS_ENV}); default: '
        './configs or the checkout the package is installed from')


def use_configs(args: argparse.Namespace) -> None:
    """Export ``--configs`` so that the worker processes read it too.

    Args:
        args (argparse.Namespace): Parsed with :func:`add_configs_argument`.
    """
    if args.configs:
        os.environ[CONFIGS_ENV] = os.path.abspath(args.configs)
    config_dir()  # a wrong folder is refused before any work


def model_config_path(name: str) -> str:
    """Path of the benchmark config of model ``name``."""
    return osp.join(config_dir(), 'benchmark', f'{name}.py')


def learn_config_path(name: str) -> str:
    """Path of the runnable config of model ``name`` on the learning recipe
    (``configs/benchmark/learn/<name>.py``).

    Args:
        name (str): One of :data:`MODEL_NAMES`.

    Raises:
        KeyError: ``name`` is not a benchmark model.
    """
    if name not in MODEL_NAMES:
        raise KeyError(f'unknown benchmark model {name!r}; choose from '
                       f'{sorted(MODEL_NAMES)}')
    return osp.join(config_dir(), 'benchmark', 'learn', f'{name}.py')


BASELINE = 'ftan-b'

# Variants of an FTAN model; 'reference' is the reference's compute pattern
# (per-scale full FFTs in FDM-AC, materialised N x N attention in the IAM,
# the decoder's upsampling tail whole and in NCHW).
VARIANTS = ('fast', 'reference')


def load_model_config(name: str, variant: str = 'fast') -> Config:
    """The config of a benchmarked model.

    Args:
        name (str): One of :data:`MODEL_NAMES`.
        variant (str): ``'fast'`` (the config as is) or ``'reference'`` (only
            for FTAN models: ``fdm_impl='reference'``,
            ``fused_attention=False``, ``channels_last_tail=False`` and
            ``band_pixels=None``).

    Returns:
        Config: The config; its ``model`` field builds the detector.
    """
    if name not in MODEL_NAMES:
        raise KeyError(f'unknown benchmark model {name!r}; choose from '
                       f'{sorted(MODEL_NAMES)}')
    if variant not in VARIANTS:
        raise ValueError(f'variant must be one of {VARIANTS}, got {variant!r}')
    cfg = Config.fromfile(model_config_path(name))
    if variant == 'reference':
        if cfg.model.backbone.type != 'FTANBackbone':
            raise ValueError(f'{name} is not an FTAN model: no reference '
                             'variant')
        cfg.model.backbone.fdm_impl = 'reference'
        cfg.model.decode_head.update(fused_attention=False,
                                     channels_last_tail=False,
                                     band_pixels=None)
    return cfg


def build_model(name: str,
                variant: str = 'fast',
                device: str = 'cpu',
                seed: int = 0,
                state_dict: Optional[Dict[str, torch.Tensor]] = None
                ) -> nn.Module:
    """Build a benchmarked model with seeded random weights.

    Args:
        name (str): One of :data:`MODEL_NAMES`.
        variant (str): ``'fast'`` or ``'reference'``.
        device (str): Target device.
        seed (int): Seed of the random initialisation.
        state_dict (dict, optional): Weights to load (strictly) instead of
            keeping the random ones.

    Returns:
        nn.Module: The detector on ``device``.
    """
    import ftan_opencd  # noqa: F401  registers FTAN in open-cd
    from mmengine.registry import init_default_scope
    from opencd.registry import MODELS

    init_default_scope('opencd')
    cfg = load_model_config(name, variant)
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg.model))
    # init_weights logs every parameter at INFO level: keep it quiet.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    if state_dict is not None:
        model.load_state_dict(state_dict)
    return model.to(device)
