"""The package imports, checks its environment and registers in open-cd;
its wheel holds the packages and nothing else."""
import shutil
import subprocess
import sys
import zipfile

import pytest

import ftan_opencd
from ftan_opencd import env_check
from opencd.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS
from .conftest import REPO

# What a fresh clone lacks (.gitignore) and the git directory.
NOT_IN_A_CLONE = shutil.ignore_patterns(
    '.git', '__pycache__', '*.egg-info', '*.pyc', 'work_dirs', 'data',
    'build', 'dist', '.pytest_cache', '.benchmarks', '*.onnx', '*.pth',
    '*.whl', 'gpu_wheels')


@pytest.mark.parametrize('registry, names', [
    pytest.param(MODELS, ['FTANBackbone', 'FTANHead'],
                 marks=pytest.mark.needs_torchvision),
    (TRANSFORMS, ['BitemporalGaussianBlur', 'BitemporalColorJitter',
                  'CDLoadImagePair', 'CDLoadChangeLabel']),
    (METRICS, ['ChangeMetric']),
    (DATASETS, ['CheckedCDDataset']),
    (HOOKS, ['ChangeErrorMapHook', 'SafeCheckpointHook']),
])
def test_components_registered_in_opencd(registry, names):
    for name in names:
        assert registry.get(name) is not None, f'{name} not in {registry}'


def test_version():
    assert ftan_opencd.__version__.count('.') == 2
    assert ftan_opencd.version_info[0] == 0


def test_environment_is_supported():
    assert env_check.find_problems() == []


def test_wrong_version_gives_actionable_message(monkeypatch):
    real = env_check._installed_version

    def fake(module, dist):
        return '1.3.1' if module == 'mmseg' else real(module, dist)

    monkeypatch.setattr(env_check, '_installed_version', fake)
    with pytest.raises(env_check.EnvironmentMismatch) as err:
        env_check.check_environment()
    message = str(err.value)
    assert 'mmseg==1.3.1' in message and '<1.3.0' in message
    assert 'pip install mmsegmentation==1.2.2' in message
    assert 'tools/install_deps.sh' in message


def test_missing_opencd_names_the_install_command(monkeypatch):
    real = env_check._installed_version

    def fake(module, dist):
        if module == 'opencd':
            raise ModuleNotFoundError("No module named 'opencd'")
        return real(module, dist)

    monkeypatch.setattr(env_check, '_installed_version', fake)
    problems = env_check.find_problems()
    assert len(problems) == 1
    assert 'opencd cannot be imported' in problems[0]
    assert env_check.OPENCD_COMMIT in problems[0]


def test_plugin_never_imports_the_tooling():
    """Configs and the API import ftan_opencd; benchmark, synthetic data and
    data preparation live in ftan_tools, which the plugin never imports."""
    import subprocess
    import sys
    code = ('import sys, pkgutil, importlib, ftan_opencd\n'
            'for m in pkgutil.walk_packages(ftan_opencd.__path__, '
            "'ftan_opencd.'):\n"
            '    importlib.import_module(m.name)\n'
            "print(sorted(n for n in sys.modules if n.startswith('ftan_tools')"
            '))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == '[]'


def test_wheel_holds_the_packages_and_nothing_of_tests(tmp_path):
    """A wheel built from the sources (offline) holds ftan_opencd with
    stack.txt (env_check reads it at import: a non-editable install needs
    it) and ftan_tools (what tools/*.py import), and no file of tests/,
    configs/ or tools/."""
    src = tmp_path / 'src'
    shutil.copytree(REPO, src, ignore=NOT_IN_A_CLONE)
    result = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
         '--no-build-isolation', '--no-index', '-w', str(tmp_path / 'dist'),
         str(src)], capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stderr
    wheel, = (tmp_path / 'dist').glob('*.whl')
    names = zipfile.ZipFile(wheel).namelist()
    assert {'ftan_opencd/__init__.py', 'ftan_opencd/stack.txt',
            'ftan_opencd/models/decode_heads/ftan_head.py',
            'ftan_tools/__init__.py'} <= set(names)
    assert not [n for n in names
                if n.startswith(('tests/', 'configs/', 'tools/'))]
    top = {name.split('/')[0] for name in names}
    assert top == {'ftan_opencd', 'ftan_tools',
                   f'ftan_opencd-{ftan_opencd.__version__}.dist-info'}
