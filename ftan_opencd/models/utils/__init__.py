from .attention import chunked_attention, naive_attention
from .init import REFERENCE_INIT

__all__ = ['REFERENCE_INIT', 'chunked_attention', 'naive_attention']
