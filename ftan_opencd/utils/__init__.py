from .checkpoint_compat import allow_full_checkpoint_loading

__all__ = ['allow_full_checkpoint_loading']
