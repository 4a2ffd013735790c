"""bfloat16 mixed-precision training on CPUs (``tools/train.py --amp``)."""
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from mmengine.runner.amp import autocast


@OPTIM_WRAPPERS.register_module()
class BF16AutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward runs under bfloat16 autocast.

    mmengine's ``AmpOptimWrapper`` refuses CPUs. bfloat16 has float32's
    exponent range, so no loss scaling (GradScaler) is needed: the backward
    pass and the optimizer step are those of ``OptimWrapper``; parameters
    and their gradients stay float32. Convolutions and matrix products run
    in bfloat16 where oneDNN supports it (AVX-512 BF16, AMX); FTAN's FDM-AC
    frequency path runs in float32 regardless (it disables autocast).

    Args:
        device_type (str): Autocast device. Defaults to ``'cpu'``.
        **kwargs: Arguments of :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, device_type: str = 'cpu', **kwargs):
        super().__init__(**kwargs)
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient accumulation context plus bfloat16 autocast."""
        with super().optim_context(model), autocast(
                device_type=self.device_type, dtype=torch.bfloat16):
            yield
