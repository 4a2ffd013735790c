"""Install ftan-opencd: ``pip install -e .`` (see README for the full stack)."""
import re
from setuptools import find_packages, setup


def get_version():
    with open('ftan_opencd/version.py', encoding='utf-8') as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def parse_requirements(fname):
    """Requirement lines of ``fname`` without comments."""
    with open(fname, encoding='utf-8') as f:
        lines = [line.split('#')[0].strip() for line in f]
    return [line for line in lines if line]


setup(
    name='ftan_opencd',
    version=get_version(),
    description='FTAN (Frequency-Temporal Attention Network) as an open-cd '
    'plugin for remote-sensing change detection',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    # The plugin, and the tooling that tools/*.py import: run as
    # `python tools/x.py`, a tool finds ftan_tools only where it is installed
    # (sys.path[0] is tools/). Never tests/, configs/ or tools/ themselves.
    packages=find_packages(include=('ftan_opencd', 'ftan_opencd.*',
                                    'ftan_tools', 'ftan_tools.*')),
    # the pinned stack (read by ftan_opencd/env_check.py at import) and the
    # shell steps of the GPU run (ftan_tools/gpu_check/*.sh)
    package_data={'ftan_opencd': ['stack.txt'],
                  'ftan_tools.gpu_check': ['*.sh']},
    python_requires='>=3.8',
    # The OpenMMLab stack (pinned in ftan_opencd/stack.txt) is installed by
    # tools/install_deps.sh: mmcv needs a build with ops and open-cd is not
    # on PyPI, so pip cannot resolve them on its own.
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': parse_requirements('requirements/tests.txt'),
        'geo': parse_requirements('requirements/optional.txt'),
    },
    license='Apache License 2.0',
)
