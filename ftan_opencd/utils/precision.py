"""Which reduced precision a machine runs natively (the ``--amp`` switch)."""
import os.path as osp
from typing import Optional

import torch

# /proc/cpuinfo flags of native bfloat16 arithmetic on x86.
BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')


def cpu_bf16_flags(cpuinfo: str = '/proc/cpuinfo') -> tuple:
    """The native-bfloat16 flags this CPU reports (empty when none, or when
    the system does not say, e.g. outside Linux)."""
    if not osp.isfile(cpuinfo):
        return ()
    with open(cpuinfo, encoding='utf-8', errors='replace') as f:
        for line in f:
            if line.startswith('flags'):
                flags = set(line.split(':', 1)[1].split())
                return tuple(flag for flag in BF16_CPU_FLAGS if flag in flags)
    return ()


def amp_dtype(device: str) -> Optional[torch.dtype]:
    """The autocast dtype ``--amp`` uses on ``device``, or None when the
    device has no native reduced precision (then float32 is faster).

    CUDA: bfloat16 where the GPU supports it, else float16. CPU: bfloat16
    with AVX-512 BF16 or AMX, else None.
    """
    if torch.device(device).type == 'cuda':
        return torch.bfloat16 if torch.cuda.is_bf16_supported() \
            else torch.float16
    return torch.bfloat16 if cpu_bf16_flags() else None


def describe_amp(device: str) -> str:
    """One line saying which precision ``--amp`` gives on ``device``."""
    dtype = amp_dtype(device)
    if dtype is None:
        flags = '/'.join(BF16_CPU_FLAGS)
        return (f'--amp: this CPU reports no native bfloat16 ({flags}), '
                'where bfloat16 runs slower than float32: running float32')
    where = 'GPU' if torch.device(device).type == 'cuda' else \
        f'CPU with {"+".join(cpu_bf16_flags())}'
    return f'--amp: {str(dtype).replace("torch.", "")} autocast on the {where}'


def run_device() -> str:
    """The device a runner of this process trains or tests on."""
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def amp_for_training(cfg) -> str:
    """Switch ``cfg.optim_wrapper`` to mixed precision (``--amp``).

    CUDA: mmengine's ``AmpOptimWrapper`` in bfloat16 where the GPU has it,
    else float16 with dynamic loss scaling. CPU with native bfloat16:
    :class:`~ftan_opencd.engine.BF16AutocastOptimWrapper`. Other CPUs: the
    config is left in float32.

    Returns:
        str: What was done, for the log.
    """
    device = run_device()
    wrapper = cfg.optim_wrapper
    if wrapper.get('type') in ('AmpOptimWrapper', 'BF16AutocastOptimWrapper'):
        return f'--amp: the config already uses {wrapper.type}'
    dtype = amp_dtype(device)
    if dtype is not None and device == 'cuda':
        wrapper.type = 'AmpOptimWrapper'
        wrapper.dtype = str(dtype).replace('torch.', '')
        wrapper.setdefault('loss_scale', 'dynamic')
    elif dtype is not None:
        wrapper.type = 'BF16AutocastOptimWrapper'
    return describe_amp(device)


def amp_for_testing(cfg) -> str:
    """Run ``cfg``'s test loop under autocast (``tools/test.py --amp``):
    mmengine's ``TestLoop(fp16=True)``, which autocasts to bfloat16 on CPU
    and float16 on CUDA; left in float32 on CPUs without native bfloat16.

    Returns:
        str: What was done, for the log.
    """
    device = run_device()
    if amp_dtype(device) is not None:
        cfg.test_cfg = dict(cfg.get('test_cfg') or dict(type='TestLoop'),
                            fp16=True)
    return describe_amp(device).replace(
        'float16 autocast', 'float16 autocast (mmengine TestLoop fp16)')
