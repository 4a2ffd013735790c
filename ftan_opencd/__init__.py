"""FTAN (Frequency-Temporal Attention Network) as an open-cd plugin.

Importing the package registers its components in open-cd's registries
(``opencd.registry.MODELS``, ``TRANSFORMS``, ``METRICS``, ``HOOKS``).
"""
from .env_check import check_environment

check_environment()

from . import models  # noqa: E402,F401
from .version import __version__, version_info  # noqa: E402

__all__ = ['__version__', 'version_info']
