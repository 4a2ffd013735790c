from .checkpoint import (CheckpointError, UnsafeCheckpointError,
                         check_state_dict, load_checkpoint_file, load_weights,
                         register_safe_globals, safe_checkpoint_loading)
from .distributed import prepare_cpu_distributed

__all__ = [
    'CheckpointError', 'UnsafeCheckpointError', 'check_state_dict',
    'load_checkpoint_file', 'load_weights', 'prepare_cpu_distributed',
    'register_safe_globals', 'safe_checkpoint_loading'
]
