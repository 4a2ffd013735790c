from .loading import CDConformPixels, CDLoadChangeLabel, CDLoadImagePair
from .photometric import BitemporalColorJitter, BitemporalGaussianBlur

__all__ = [
    'BitemporalColorJitter', 'BitemporalGaussianBlur', 'CDConformPixels',
    'CDLoadChangeLabel',
    'CDLoadImagePair'
]
