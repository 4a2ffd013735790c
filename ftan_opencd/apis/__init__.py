"""Inference, explanation and export APIs of FTAN change detectors."""
from .inference import init_model
from .inferencer import FTANInferencer
from .options import PixelOptions, PolygonOptions, WindowOptions
from .pair_jobs import PairJob

__all__ = [
    'FTANInferencer', 'PairJob', 'PixelOptions', 'PolygonOptions',
    'WindowOptions', 'init_model'
]
