"""Distributed training without GPUs (torchrun + gloo on CPU).

mmengine 0.10.7's PyTorch launcher always calls ``torch.cuda.set_device``
and wraps the model with ``device_ids=[LOCAL_RANK]``, both of which fail on
a CPU-only machine. For ``--launcher pytorch`` without CUDA this initialises
the gloo process group itself (mmengine then skips its own init) and wraps
the model in DDP without device ids.
"""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def prepare_cpu_distributed(cfg: Config) -> bool:
    """Adapt ``cfg`` for a CPU ``torchrun`` job. Returns True if it did."""
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
