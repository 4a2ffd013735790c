"""FTAN (Frequency-Temporal Attention Network) as an open-cd plugin.

Importing the package registers its components in open-cd's registries
(``opencd.registry.MODELS``, ``TRANSFORMS``, ``METRICS``, ``HOOKS``).
"""
from .env_check import check_environment

check_environment()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .utils import allow_full_checkpoint_loading  # noqa: E402

allow_full_checkpoint_loading()

from .version import __version__, version_info  # noqa: E402

__all__ = ['__version__', 'version_info']
