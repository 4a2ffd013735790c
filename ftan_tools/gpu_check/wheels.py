"""The wheel folder of the offline GPU run: what ``pip download`` fetched,
sorted into bundled files and what the target must already have, with a
manifest (``--prepare``), and what ``pip install`` installs from it
(``--run``). Standard library only."""
import datetime
import json
import os
import os.path as osp
import re
import shutil
from typing import Dict, List, Optional, Sequence

MANIFEST = 'gpu_check_manifest.json'

# Never bundled: the target brings its own (CUDA) torch stack, numpy and
# OpenCV; mmengine's metadata asks for opencv-python, the target has the
# headless build (mmcv's setup.py picks opencv-python-headless when present).
TARGET_STACK = ('torch', 'torchvision', 'torchaudio', 'triton', 'numpy',
                'opencv-python', 'opencv-python-headless',
                'opencv-contrib-python', 'opencv-contrib-python-headless')
TARGET_PREFIXES = ('nvidia-', 'cuda-')
# Lean mode (default): also left out, because the device image 'cuda' of the
# nvidia-h100-x1 / nvidia-h200 machines carries them (its package list of
# 2026-11-17). Together they are ~60 MiB of wheels (scipy ~34, matplotlib
# and its dependencies ~25), which would not fit beside the rest under the
# device tool's 64 MiB. `--run` checks they are installed before anything
# else and names any that is not (then: --prepare --full).
DEVICE_IMAGE_HAS = frozenset((
    'attrs', 'certifi', 'click', 'contourpy', 'cycler', 'einops',
    'filelock', 'fonttools', 'fsspec', 'jinja2', 'kiwisolver', 'markdown',
    'markdown-it-py', 'markupsafe', 'matplotlib', 'mdurl', 'packaging',
    'pillow', 'pygments', 'pyparsing', 'python-dateutil', 'pyyaml',
    'regex', 'rich', 'safetensors', 'scipy', 'six', 'tqdm',
    'typing-extensions', 'zipp'))
# Build prerequisites of mmcv's sdist: always bundled (the target's
# setuptools is usually >= 70, which cannot build mmcv 2.1).
BUILD_TOOLS = ('setuptools', 'wheel', 'ninja', 'packaging')



class PrepareError(Exception):
    """The wheel folder cannot serve the GPU run; the message says how to
    fix it (``python -m ftan_tools.gpu_check`` prints it as one
    ``error: ...`` line, status 1, like the shell steps)."""

def normalize(name: str) -> str:
    """PEP 503 normalised distribution name.

    Args:
        name (str): A distribution name as written (``Markdown_It_Py``).

    Returns:
        str: Lower case, runs of ``-_.`` as one ``-`` (``markdown-it-py``).
    """
    return re.sub(r'[-_.]+', '-', name).lower()


def parse_filename(filename: str) -> Optional[Dict[str, str]]:
    """Distribution name and version of a wheel or sdist file name.

    Args:
        filename (str): E.g. ``mmengine-1.0-py3-none-any.whl`` or
            ``mmcv-2.1.tar.gz``.

    Returns:
        dict | None: ``name`` (normalised), ``version`` and ``kind``
        (``wheel`` or ``sdist``); None for other files.
    """
    if filename.endswith('.whl'):
        parts = filename[:-4].split('-')
        if len(parts) < 5:
            return None
        return dict(name=normalize(parts[0]), version=parts[1], kind='wheel')
    match = re.fullmatch(r'(.+)-([^-]+)\.(tar\.gz|zip)', filename)
    if match:
        return dict(name=normalize(match.group(1)), version=match.group(2),
                    kind='sdist')
    return None


def provided_by_target(name: str) -> bool:
    """Whether the target brings distribution ``name`` (never bundled).

    Args:
        name (str): A normalised distribution name.

    Returns:
        bool: It is part of the target's own torch stack, numpy, OpenCV,
        ``nvidia-*`` or ``cuda-*``.
    """
    return name in TARGET_STACK or name.startswith(TARGET_PREFIXES)


def read_requirement_names(paths: Sequence[str],
                           skip: Sequence[str] = ()) -> List[str]:
    """Requirement lines of requirements/*.txt files, minus options,
    comments, the target's own stack and the distributions ``skip``.

    Args:
        paths (Sequence[str]): The requirement files.
        skip (Sequence[str]): Distributions the run does not need.

    Returns:
        list[str]: Each requirement line once, in file order.
    """
    skip = {normalize(name) for name in skip}
    lines = []
    for path in paths:
        with open(path, encoding='utf-8') as f:
            for line in f:
                line = line.split('#')[0].strip()
                if not line or line.startswith('-'):
                    continue
                name = normalize(re.match(r'[A-Za-z0-9_.-]+', line).group(0))
                if not provided_by_target(name) and name not in skip and \
                        line not in lines:
                    lines.append(line)
    return lines


def classify(src: str, dst: str, python_version: str, full: bool,
             platforms: Sequence[str] = (),
             stack: Optional[Dict[str, str]] = None,
             skip: Sequence[str] = ()) -> Dict:
    """Move what ``pip download`` left in ``src`` into ``dst``; the
    distributions ``skip`` (not used by the run) are neither bundled nor
    required.

    Returns the manifest (also written to ``dst/gpu_check_manifest.json``).
    """
    os.makedirs(dst, exist_ok=True)
    skip = {normalize(name) for name in skip}
    bundled, expected, skipped = [], [], []
    for root, _, files in os.walk(src):
        for filename in sorted(files):
            info = parse_filename(filename)
            if info is None:
                continue
            name = info['name']
            if name in skip:
                skipped.append(dict(name=name, version=info['version']))
            elif provided_by_target(name):
                expected.append(dict(name=name, version=info['version'],
                                     why='the target\'s own torch stack'))
            elif not full and name in DEVICE_IMAGE_HAS and \
                    name not in BUILD_TOOLS:
                expected.append(dict(name=name, version=info['version'],
                                     why='on the device image (lean mode)'))
            else:
                shutil.move(osp.join(root, filename), osp.join(dst, filename))
                bundled.append(dict(info, file=filename))
    names = [b['name'] for b in bundled]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise PrepareError(f'two versions of {twice} in {dst}')
    manifest = dict(
        created=datetime.datetime.now().isoformat(timespec='seconds'),
        python_version=python_version, platforms=list(platforms),
        mode='full' if full else 'lean', stack=stack or {},
        bundled=sorted(bundled, key=lambda b: b['name']),
        expected=sorted(expected, key=lambda e: e['name']),
        skipped=sorted(skipped, key=lambda e: e['name']))
    with open(osp.join(dst, MANIFEST), 'w') as f:
        json.dump(manifest, f, indent=1)
    return manifest


def load_manifest(folder: str) -> Dict:
    """The manifest that :func:`classify` wrote into ``folder``.

    Args:
        folder (str): The wheel folder.

    Returns:
        dict: The manifest.

    Raises:
        PrepareError: There is none (the folder was not prepared).
    """
    path = osp.join(folder, MANIFEST)
    if not osp.isfile(path):
        raise PrepareError(f'{path} not found: fill {folder} first with '
                           'bash tools/gpu_check.sh --prepare ' + folder)
    with open(path) as f:
        return json.load(f)


def install_specs(manifest: Dict, pins: Sequence[str]) -> List[str]:
    """What ``pip install --no-deps`` installs from the wheel folder: the
    pinned requirement of a pinned distribution, else its bare name (kept
    when the target already has it); the sdists (mmcv) are left out.

    Args:
        manifest (dict): The wheel folder's manifest.
        pins (Sequence[str]): Pinned requirements of the stack file
            (``mmengine==X``).

    Returns:
        list[str]: The arguments of ``pip install``.
    """
    pinned = {
        normalize(re.match(r'[A-Za-z0-9_.-]+', p).group(0)): p
        for p in pins
    }
    specs = []
    for entry in manifest['bundled']:
        if entry['kind'] != 'wheel':
            continue
        specs.append(pinned.get(entry['name'], entry['name']))
    return specs
