from .checkpoint import (CheckpointError, UnsafeCheckpointError,
                         check_state_dict, load_checkpoint_file, load_weights,
                         register_safe_globals, safe_checkpoint_loading)
from .config_loading import (add_fit_check, add_runner_arguments,
                             add_trust_argument,
                             checkpoint_trusted, load_config,
                             parse_runner_args)
from .distributed import prepare_cpu_distributed

__all__ = [
    'CheckpointError', 'UnsafeCheckpointError', 'add_fit_check',
    'add_runner_arguments', 'add_trust_argument', 'checkpoint_trusted',
    'check_state_dict', 'load_checkpoint_file', 'load_config',
    'load_weights', 'parse_runner_args', 'prepare_cpu_distributed',
    'register_safe_globals', 'safe_checkpoint_loading'
]
