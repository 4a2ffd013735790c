from .bf16_optim_wrapper import BF16AutocastOptimWrapper
from .checkpoint_check_hook import CheckpointFitHook
from .error_map import ERROR_COLOURS, error_map
from .error_map_hook import ChangeErrorMapHook
from .safe_checkpoint_hook import (REQUEUE_STATUS, AtomicLocalBackend,
                                   SafeCheckpointHook)
from .schedule import set_train_iters
from .schedule_check import check_schedule

__all__ = [
    'AtomicLocalBackend', 'BF16AutocastOptimWrapper', 'ChangeErrorMapHook',
    'CheckpointFitHook', 'ERROR_COLOURS', 'REQUEUE_STATUS',
    'SafeCheckpointHook', 'check_schedule', 'error_map', 'set_train_iters'
]
