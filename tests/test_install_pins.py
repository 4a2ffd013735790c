"""The stack's versions and the open-cd commit have one home,
ftan_opencd/stack.txt, and the install scripts read it (no network)."""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest

from .conftest import REPO, load_module

HOME = 'ftan_opencd/stack.txt'
SCRIPTS = ('tools/install_deps.sh', 'tools/test_modern.sh')
PINNED = ('torch', 'torchvision', 'mmengine', 'mmcv', 'mmsegmentation',
          'mmdet', 'mmpretrain', 'opencd')
SETTINGS = ('opencd-git', 'opencd-commit', 'modern-torch', 'mmcv-wheel-torch')
# Files that still spell out a pin, by (path, distribution). Each entry is
# one more file to edit when that pin changes: keep this empty if possible.
KNOWN_COPIES = {
    # asserts on the fix message; could read env_check.stack_value instead
    ('tests/test_package.py', 'mmsegmentation'),
}


def load_env_check(root=REPO):
    return load_module(osp.join(root, 'ftan_opencd', 'env_check.py'),
                       'env_check_pins')


ENV_CHECK = load_env_check()


def tracked_files():
    try:
        out = subprocess.run(['git', 'ls-files', '-z'], cwd=REPO,
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip('not a git checkout')
    return [p for p in out.decode().split('\0')
            if p and osp.isfile(osp.join(REPO, p))]


def read_text(relpath):
    with open(osp.join(REPO, relpath), 'rb') as f:
        return f.read().decode('utf-8', errors='replace')


def run_script(script, *args, root=REPO, **env):
    env = {**{k: v for k, v in os.environ.items()
              if k not in ('OPENCD_SRC', 'FTAN_WHEELS', 'FTAN_MODERN_VENV')},
           'PYTHON': sys.executable, **env}
    result = subprocess.run(['bash', osp.join(root, script), *args],
                            env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_stack_pins_every_package_and_the_commit():
    for name in PINNED:
        assert re.fullmatch(r'\d+(\.\d+)+', ENV_CHECK.pinned_version(name)), \
            name
    for key in SETTINGS:
        assert ENV_CHECK.stack_value(key)
    assert re.fullmatch(r'[0-9a-f]{40}', ENV_CHECK.OPENCD_COMMIT)
    assert ENV_CHECK.OPENCD_COMMIT in ENV_CHECK.OPENCD_PIP


def test_commit_is_written_only_in_the_stack_file():
    commit = ENV_CHECK.OPENCD_COMMIT
    files = tracked_files()
    assert HOME in files
    holders = [p for p in files if commit in read_text(p)]
    assert holders == [HOME]
    assert read_text(HOME).count(commit) == 1
    # nor any other commit pinned in an open-cd git URL
    url = re.compile(r'open-cd(\.git)?@[0-9a-f]{7,40}')
    assert [p for p in files if url.search(read_text(p))] == []


def test_pins_are_written_only_in_the_stack_file():
    copies = []
    for path in tracked_files():
        if path == HOME:
            continue
        text = read_text(path)
        for name in PINNED:
            pin = re.compile(rf'(?<![\w.-]){re.escape(name)}\s*===?\s*\d',
                             re.IGNORECASE)
            if pin.search(text) and (path, name) not in KNOWN_COPIES:
                copies.append(f'{path}: {name}==')
    assert copies == [], f'pins outside {HOME}: {copies}'


def test_install_files_carry_no_version_numbers():
    """The scripts and requirement files read every version from the home."""
    versions = {ENV_CHECK.pinned_version(name) for name in PINNED}
    versions |= {ENV_CHECK.stack_value('modern-torch'),
                 ENV_CHECK.stack_value('mmcv-wheel-torch')}
    paths = [p for p in tracked_files()
             if p in SCRIPTS + ('Makefile', '.ci/run', 'setup.py')
             or p.startswith('requirements/')]
    assert set(SCRIPTS) <= set(paths)
    found = [f'{p}: {v}' for p in paths for v in versions
             if re.search(rf'(?<![\w.]){re.escape(v)}(?![\w.])',
                          read_text(p))]
    assert found == []


def test_mminstall_is_constrained_by_the_stack_file():
    lines = read_text('requirements/mminstall.txt').splitlines()
    constraint = [line.split(None, 1)[1] for line in lines
                  if line.startswith('-c ')]
    assert constraint == ['../ftan_opencd/stack.txt']
    assert osp.samefile(osp.join(REPO, 'requirements', constraint[0]),
                        ENV_CHECK.STACK_FILE)


def test_cli_prints_the_stack():
    def cli(*args):
        return subprocess.run(
            [sys.executable, osp.join(REPO, 'ftan_opencd', 'env_check.py'),
             *args], capture_output=True, text=True, timeout=60)

    pins = cli('--pins')
    assert pins.returncode == 0, pins.stderr
    assert pins.stdout.splitlines() == \
        list(ENV_CHECK.STACK_REQUIREMENTS.values()) + \
        [f'{k} = {v}' for k, v in ENV_CHECK.STACK_SETTINGS.items()]
    got = cli('--get', 'mmcv', 'opencd-commit')
    assert got.stdout.split() == [ENV_CHECK.stack_value('mmcv'),
                                  ENV_CHECK.OPENCD_COMMIT]
    assert cli('--get', 'no-such-key').returncode != 0


@pytest.mark.parametrize('script', SCRIPTS)
def test_scripts_parse(script):
    subprocess.run(['bash', '-n', osp.join(REPO, script)], check=True)


def test_install_deps_installs_the_stack(tmp_path):
    get = ENV_CHECK.stack_value
    git = f'git+{get("opencd-git")}@{ENV_CHECK.OPENCD_COMMIT}'
    plan = run_script(SCRIPTS[0], '--print-pins', FTAN_WHEELS=str(tmp_path))
    assert plan == [
        f'constraints: {ENV_CHECK.STACK_FILE}',
        *(get(name) for name in ('torch', 'torchvision', 'setuptools',
                                 'mmengine', 'mmcv', 'mmsegmentation',
                                 'mmdet', 'mmpretrain', 'opencd')),
        f'mmcv-wheel-torch: {get("mmcv-wheel-torch")}',
        f'opencd-from: {git}']


@pytest.mark.parametrize('script', SCRIPTS)
def test_opencd_source_order(script, tmp_path):
    """OPENCD_SRC, else the wheel folder (when it holds the pinned version),
    else git at the pinned commit."""
    version = ENV_CHECK.pinned_version('opencd')
    git = f'git+{ENV_CHECK.stack_value("opencd-git")}@' \
          f'{ENV_CHECK.OPENCD_COMMIT}'
    venv = tmp_path / 'venv'

    def source(**env):
        plan = run_script(script, '--print-pins',
                          FTAN_MODERN_VENV=str(venv), **env)
        return plan[-1]

    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    (wheels / 'opencd-0.0.1-py3-none-any.whl').touch()
    assert source(FTAN_WHEELS=str(wheels)) == f'opencd-from: {git}'
    wheel = wheels / f'opencd-{version}-py3-none-any.whl'
    wheel.touch()
    assert source(FTAN_WHEELS=str(wheels)) == f'opencd-from: {wheel}'
    assert source(FTAN_WHEELS=str(wheels), OPENCD_SRC='/src/open-cd') == \
        'opencd-from: /src/open-cd'
    assert source(FTAN_WHEELS=str(tmp_path / 'absent')) == \
        f'opencd-from: {git}'
    assert not venv.exists(), '--print-pins must not build anything'


def test_editing_the_stack_file_alone_changes_everything(tmp_path):
    """A copy of the repo's install files with one edited stack file."""
    for rel in (*SCRIPTS, 'tools/opencd_source.sh',
                'ftan_opencd/env_check.py', 'ftan_opencd/errors.py', HOME):
        os.makedirs(tmp_path / osp.dirname(rel), exist_ok=True)
        shutil.copy(osp.join(REPO, rel), tmp_path / rel)
    stack = (tmp_path / HOME).read_text()
    old_mmcv = ENV_CHECK.stack_value('mmcv')
    assert stack.count(old_mmcv) == 1
    # (written as name + '==' + version: this file must pass the pin grep)
    new_mmcv, new_torch = 'mmcv' + '==9.8.7', 'torch' + '==9.9.9'
    stack = stack.replace(old_mmcv, new_mmcv)
    stack = stack.replace(ENV_CHECK.OPENCD_COMMIT, 'f' * 40)
    stack = stack.replace(ENV_CHECK.stack_value('modern-torch'),
                          new_torch.split('==')[1])
    (tmp_path / HOME).write_text(stack)

    edited = load_env_check(str(tmp_path))
    assert edited.OPENCD_COMMIT == 'f' * 40
    assert new_mmcv in edited.SUPPORTED[2][4]
    install = run_script(SCRIPTS[0], '--print-pins', root=str(tmp_path),
                         FTAN_WHEELS=str(tmp_path / 'absent'))
    modern = run_script(SCRIPTS[1], '--print-pins', root=str(tmp_path),
                        FTAN_WHEELS=str(tmp_path / 'absent'),
                        FTAN_MODERN_VENV=str(tmp_path / 'venv'))
    for plan in (install, modern):
        assert new_mmcv in plan
        assert plan[-1].endswith('@' + 'f' * 40)
    assert new_torch in modern
