from .checkpoint_check_hook import CheckpointFitHook
from .error_map import ERROR_COLOURS, error_map
from .error_map_hook import ChangeErrorMapHook

__all__ = [
    'ChangeErrorMapHook', 'CheckpointFitHook', 'ERROR_COLOURS', 'error_map'
]
