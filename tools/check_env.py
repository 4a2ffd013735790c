"""Report whether the stack ftan-opencd needs is installed (exit 1 if not).

    python tools/check_env.py [--quiet]
"""
import argparse
import importlib.util
import os.path as osp
import sys


# Imported by open-cd's models, the tools or the test suite, beyond the
# packages that `import ftan_opencd` checks itself.
TOOL_MODULES = ('torchvision', 'mmdet', 'mmpretrain', 'pytest', 'onnx',
                'onnxruntime', 'rasterio', 'shapely', 'pyogrio', 'safetensors')


def load_env_check():
    """Load ftan_opencd/env_check.py without importing the package."""
    path = osp.join(osp.dirname(__file__), '..', 'ftan_opencd', 'env_check.py')
    spec = importlib.util.spec_from_file_location('ftan_env_check', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quiet', action='store_true',
                        help='print nothing, only set the exit status')
    args = parser.parse_args()
    problems = load_env_check().find_problems()
    for module in TOOL_MODULES:
        if importlib.util.find_spec(module) is None:
            problems.append(f'{module} is not installed (needed by open-cd '
                            'or the tests). Fix: bash tools/install_deps.sh')
    repo = osp.abspath(osp.join(osp.dirname(__file__), '..'))
    spec = importlib.util.find_spec('ftan_opencd')
    if spec is None or not osp.abspath(spec.origin).startswith(repo + osp.sep):
        where = 'is not installed' if spec is None else \
            f'is installed from {osp.dirname(spec.origin)}'
        problems.append(f'ftan_opencd {where}, not from this checkout '
                        f'({repo}). Fix: pip install --no-deps -e {repo}')
    if not args.quiet:
        for line in problems:
            print(f'[check_env] {line}')
        if not problems:
            print('[check_env] environment OK')
    sys.exit(1 if problems else 0)


if __name__ == '__main__':
    main()
