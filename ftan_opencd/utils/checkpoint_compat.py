"""Keep mmengine 0.10.x checkpoints loadable with torch >= 2.6.

torch 2.6 changed ``torch.load``'s default to ``weights_only=True``. mmengine
0.10.7 calls ``torch.load(filename, map_location=...)`` for local files, and
its checkpoints hold more than tensors (``meta``, message hub, numpy scalars),
so loading, ``--resume`` and ``load_from`` fail there. Importing
``ftan_opencd`` re-registers mmengine's loader for local paths with
``weights_only=False``, the pre-2.6 behaviour. Only load checkpoints you
trust: a full unpickling can run code.
"""
import os.path as osp

import torch
from mmengine.runner.checkpoint import CheckpointLoader


def _torch_at_least(major: int, minor: int) -> bool:
    version = torch.__version__.split('+')[0].split('.')
    return (int(version[0]), int(version[1])) >= (major, minor)


def _load_local_checkpoint(filename, map_location=None):
    """mmengine's local loader, with an explicit ``weights_only=False``."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location,
                      weights_only=False)


def allow_full_checkpoint_loading() -> bool:
    """Register the local loader when torch's default would refuse mmengine
    checkpoints. Returns True when it was registered."""
    if not _torch_at_least(2, 6):
        return False
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_local_checkpoint, force=True)
    return True
