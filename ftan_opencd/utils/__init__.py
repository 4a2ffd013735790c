from .checkpoint_compat import allow_full_checkpoint_loading
from .config_loading import load_config
from .distributed import prepare_cpu_distributed

__all__ = [
    'allow_full_checkpoint_loading', 'load_config', 'prepare_cpu_distributed'
]
