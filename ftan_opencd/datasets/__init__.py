from .cd_dataset import CheckedCDDataset
from .data_roots import (DATA_SPLITS, data_roots, log_data_roots,
                         set_data_root, set_split_root, split_datasets)
from .image_verification import enable_image_verification
from .transforms import *  # noqa: F401,F403

__all__ = [
    'BitemporalColorJitter', 'BitemporalGaussianBlur', 'CDConformPixels',
    'CDLoadChangeLabel', 'CDLoadImagePair', 'CheckedCDDataset',
    'DATA_SPLITS', 'data_roots', 'enable_image_verification',
    'log_data_roots', 'set_data_root', 'set_split_root', 'split_datasets'
]
