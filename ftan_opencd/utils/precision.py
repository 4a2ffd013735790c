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
