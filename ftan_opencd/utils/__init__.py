from .checkpoint_compat import allow_full_checkpoint_loading
from .distributed import prepare_cpu_distributed

__all__ = ['allow_full_checkpoint_loading', 'prepare_cpu_distributed']
