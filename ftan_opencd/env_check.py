"""Check that the OpenMMLab stack FTAN-OpenCD runs on is installed correctly.

This module imports nothing from ``ftan_opencd`` but :mod:`ftan_opencd.errors`
(standard library only; read as a file when this module is, see
:func:`_user_error_base`), so that ``tools/check_env.py`` can load it before
the package itself is importable, and the install scripts can run it as a
script to read the pinned versions from ``stack.txt`` (next to this file, the
one place where they are written)::

    python ftan_opencd/env_check.py --pins            # every pin and setting
    python ftan_opencd/env_check.py --get mmcv opencd-commit
"""
import argparse
import importlib
import importlib.metadata
import importlib.util
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

STACK_FILE = osp.join(osp.dirname(osp.abspath(__file__)), 'stack.txt')


def read_stack(
        path: str = STACK_FILE) -> Tuple[Dict[str, str], Dict[str, str]]:
    """Parse the stack file.

    Returns ``(requirements, settings)``: ``requirements`` maps a
    distribution name to its requirement line (``'mmcv==<version>'``,
    ``'numpy<2'``), ``settings`` maps the key of a ``#@ key = value`` line to
    its value.
    """
    requirements, settings = {}, {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            setting = re.fullmatch(r'#@\s*([\w.-]+)\s*=\s*(\S+)', line)
            if setting:
                settings[setting.group(1)] = setting.group(2)
                continue
            line = line.split('#')[0].strip()
            if line:
                name = re.match(r'[A-Za-z0-9_.-]+', line).group(0)
                requirements[name.lower()] = line.replace(' ', '')
    return requirements, settings


STACK_REQUIREMENTS, STACK_SETTINGS = read_stack()


def stack_value(key: str) -> str:
    """The requirement line of a distribution of the stack file
    (``'mmcv==<version>'``), or the value of one of its settings."""
    if key.lower() in STACK_REQUIREMENTS:
        return STACK_REQUIREMENTS[key.lower()]
    if key in STACK_SETTINGS:
        return STACK_SETTINGS[key]
    raise KeyError(f'{key!r} is neither a requirement nor a setting '
                   f'of {STACK_FILE}')


def pinned_version(name: str) -> str:
    """The version ``name`` is pinned to (``==``) in the stack file."""
    requirement = stack_value(name)
    if '==' not in requirement:
        raise KeyError(f'{name} is not pinned with == in {STACK_FILE}')
    return requirement.split('==', 1)[1]


INSTALL_HINT = 'bash tools/install_deps.sh  (from the ftan-opencd checkout)'
OPENCD_COMMIT = stack_value('opencd-commit')
OPENCD_GIT = stack_value('opencd-git')
OPENCD_PIP = f'pip install --no-deps "git+{OPENCD_GIT}@{OPENCD_COMMIT}"'


def _pip(name: str) -> str:
    return f'pip install {stack_value(name)}'


# (import name, distribution name, minimum inclusive, maximum exclusive, fix)
SUPPORTED = [
    ('torch', 'torch', '2.0.0', None, _pip('torch')),
    ('mmengine', 'mmengine', '0.10.0', '1.0.0', _pip('mmengine')),
    ('mmcv', 'mmcv', '2.0.0', '2.2.0',
     'MMCV_WITH_OPS=1 FORCE_CUDA=0 pip install --no-build-isolation '
     f'{stack_value("mmcv")}  (or OpenMMLab\'s prebuilt wheel for your '
     'torch/CUDA)'),
    ('mmseg', 'mmsegmentation', '1.2.0', '1.3.0', _pip('mmsegmentation')),
    ('opencd', 'opencd', '1.0.0', None, OPENCD_PIP),
]


def _user_error_base() -> type:
    """:class:`ftan_opencd.errors.UserError`, also when this module is read
    as a file without its package (``tools/check_env.py``, the install
    scripts), where a relative import has no package to start from."""
    if __package__:
        from .errors import UserError
        return UserError
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'errors.py')
    spec = importlib.util.spec_from_file_location('ftan_opencd_errors', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.UserError


class EnvironmentMismatch(_user_error_base(), ImportError):
    """Raised when a required package is missing or has an unsupported
    version; the message says what is wrong and the command that fixes it.

    A user error (reported as one line by the tools) and an
    ``ImportError``, as it stops ``import ftan_opencd``.
    """


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


def main(argv: Optional[List[str]] = None) -> None:
    """Print values of the stack file (standard library only)."""
    parser = argparse.ArgumentParser(
        description=f'Print the pins of {STACK_FILE}.')
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--pins', action='store_true',
                       help='print every requirement line and setting')
    group.add_argument('--get', nargs='+', metavar='KEY',
                       help='print the requirement line of each '
                       'distribution (e.g. mmcv==<version>) or the value of '
                       'each setting, one a line')
    args = parser.parse_args(argv)
    if args.pins:
        lines = list(STACK_REQUIREMENTS.values()) + \
            [f'{key} = {value}' for key, value in STACK_SETTINGS.items()]
    else:
        try:
            lines = [stack_value(key) for key in args.get]
        except KeyError as exc:
            parser.error(exc.args[0])
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
