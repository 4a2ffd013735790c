"""Inference, explanation and export APIs of FTAN change detectors."""
from .inference import (init_model, predict_pair, predict_pair_polygons,
                        predict_pair_to_file)

__all__ = [
    'init_model', 'predict_pair', 'predict_pair_to_file',
    'predict_pair_polygons'
]
