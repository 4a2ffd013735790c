from .error_map import ERROR_COLOURS, error_map
from .error_map_hook import ChangeErrorMapHook

__all__ = ['ChangeErrorMapHook', 'ERROR_COLOURS', 'error_map']
