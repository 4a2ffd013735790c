"""Check that the OpenMMLab stack FTAN-OpenCD runs on is installed correctly.

This module imports nothing from ``ftan_opencd`` so that ``tools/check_env.py``
can load it before the package itself is importable.
"""
import importlib
import importlib.metadata
import re
from typing import List, Optional, Tuple

INSTALL_HINT = 'bash tools/install_deps.sh  (from the ftan-opencd checkout)'
OPENCD_COMMIT = '790a1972b538baaaffd4c3022a4d9afaa3f861e5'
OPENCD_PIP = ('pip install --no-deps '
              f'"git+https://github.com/likyoo/open-cd.git@{OPENCD_COMMIT}"')

# (import name, distribution name, minimum inclusive, maximum exclusive, fix)
SUPPORTED = [
    ('torch', 'torch', '2.0.0', None, 'pip install torch==2.1.2'),
    ('mmengine', 'mmengine', '0.10.0', '1.0.0', 'pip install mmengine==0.10.7'),
    ('mmcv', 'mmcv', '2.0.0', '2.2.0',
     'MMCV_WITH_OPS=1 FORCE_CUDA=0 pip install --no-build-isolation '
     'mmcv==2.1.0  (or OpenMMLab\'s prebuilt wheel for your torch/CUDA)'),
    ('mmseg', 'mmsegmentation', '1.2.0', '1.3.0',
     'pip install mmsegmentation==1.2.2'),
    ('opencd', 'opencd', '1.0.0', None, OPENCD_PIP),
]


class EnvironmentMismatch(ImportError):
    """Raised when a required package is missing or has an unsupported
    version; the message says what is wrong and the command that fixes it."""


def _version_tuple(version: str) -> Tuple[int, ...]:
    parts = re.findall(r'\d+', version.split('+')[0])[:3]
    return tuple(int(p) for p in parts)


def _installed_version(module_name: str, dist_name: str) -> Optional[str]:
    module = importlib.import_module(module_name)
    version = getattr(module, '__version__', None)
    if version is None:
        version = importlib.metadata.version(dist_name)
    return version


def find_problems() -> List[str]:
    """Return one human-readable line per problem found (empty when fine)."""
    problems = []
    for module_name, dist_name, low, high, fix in SUPPORTED:
        try:
            version = _installed_version(module_name, dist_name)
        except Exception as exc:  # noqa: BLE001 - report any import failure
            problems.append(f'{module_name} cannot be imported '
                            f'({type(exc).__name__}: {exc}). Fix: {fix}')
            continue
        too_old = _version_tuple(version) < _version_tuple(low)
        too_new = high is not None and \
            _version_tuple(version) >= _version_tuple(high)
        if too_old or too_new:
            wanted = f'>={low}' + (f', <{high}' if high else '')
            problems.append(f'{module_name}=={version} is installed but '
                            f'ftan-opencd needs {wanted}. Fix: {fix}')
    if not any(p.startswith('mmcv') for p in problems):
        try:
            importlib.import_module('mmcv.ops')
        except Exception as exc:  # noqa: BLE001
            problems.append(
                'mmcv is installed without its compiled ops (mmcv-lite or a '
                f'build for another torch): {type(exc).__name__}: {exc}. '
                'mmsegmentation imports mmcv.ops. Fix: pip uninstall -y mmcv '
                'mmcv-lite && ' + SUPPORTED[2][4])
    try:
        import numpy
        import torch
        if _version_tuple(torch.__version__) < (2, 3) and \
                _version_tuple(numpy.__version__) >= (2, ):
            problems.append(
                f'numpy=={numpy.__version__} is installed, but torch '
                f'{torch.__version__} was built against numpy 1. '
                'Fix: pip install "numpy<2"')
    except ImportError:
        pass  # already reported above
    return problems


def check_environment() -> None:
    """Raise :class:`EnvironmentMismatch` listing every problem found."""
    problems = find_problems()
    if problems:
        lines = '\n  - '.join(problems)
        raise EnvironmentMismatch(
            f'ftan-opencd cannot run in this environment:\n  - {lines}\n'
            f'To install the whole tested stack: {INSTALL_HINT}')
