from .loading import CDLoadChangeLabel, CDLoadImagePair
from .photometric import BitemporalColorJitter, BitemporalGaussianBlur

__all__ = [
    'BitemporalColorJitter', 'BitemporalGaussianBlur', 'CDLoadChangeLabel',
    'CDLoadImagePair'
]
