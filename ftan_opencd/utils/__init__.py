from .checkpoint_compat import allow_full_checkpoint_loading
from .config_loading import (add_runner_arguments, load_config,
                             parse_runner_args)
from .distributed import prepare_cpu_distributed

__all__ = [
    'add_runner_arguments', 'allow_full_checkpoint_loading', 'load_config',
    'parse_runner_args', 'prepare_cpu_distributed'
]
