"""FTAN (Frequency-Temporal Attention Network) as an open-cd plugin.

Importing the package registers its components in open-cd's registries
(``opencd.registry.MODELS``, ``TRANSFORMS``, ``METRICS``, ``HOOKS``) and,
on torch >= 2.6, adds the inert types of mmengine checkpoints to torch's
weights-only allowlist (see :mod:`ftan_opencd.utils.checkpoint`). It
changes nothing else in other libraries.
"""
from .env_check import check_environment

check_environment()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .utils import register_safe_globals  # noqa: E402

register_safe_globals()

from .version import __version__, version_info  # noqa: E402

__all__ = ['__version__', 'version_info']
