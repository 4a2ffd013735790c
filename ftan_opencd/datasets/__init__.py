from .cd_dataset import CheckedCDDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'BitemporalColorJitter', 'BitemporalGaussianBlur', 'CDConformPixels',
    'CDLoadChangeLabel',
    'CDLoadImagePair', 'CheckedCDDataset'
]
