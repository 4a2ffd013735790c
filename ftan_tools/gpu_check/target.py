"""Checks of the target Python of the GPU run: it can use the wheel folder
(Python version, what the folder leaves out), and the stack imports module
by module. Standard library only at import time."""
import importlib
import importlib.metadata
import sys
from typing import Dict, List, Optional, Sequence

# mmengine asks for opencv-python; any OpenCV build provides cv2
OPENCV = ('opencv-python', 'opencv-python-headless', 'opencv-contrib-python',
          'opencv-contrib-python-headless')
SATISFIED_BY = {name: OPENCV for name in OPENCV}


def installed(name: str) -> bool:
    """Whether distribution ``name`` is installed in this Python.

    Args:
        name (str): A distribution name.

    Returns:
        bool: Its metadata is found.
    """
    try:
        importlib.metadata.version(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def check_target(manifest: Dict) -> List[str]:
    """Problems of the running Python as the target of ``manifest``.

    Args:
        manifest (dict): The wheel folder's manifest.

    Returns:
        list[str]: A Python version other than the folder's, and the
        distributions the folder leaves out that are not installed; empty
        when the target can use the folder.
    """
    problems = []
    here = '.'.join(map(str, sys.version_info[:2]))
    if here != manifest['python_version']:
        problems.append(
            f'the wheel folder was prepared for Python '
            f'{manifest["python_version"]}, this is Python {here}: '
            f'bash tools/gpu_check.sh --prepare DIR --python-version {here}')
    missing = []
    for entry in manifest['expected']:
        if not any(installed(name) for name in
                   SATISFIED_BY.get(entry['name'], (entry['name'], ))):
            missing.append(f'{entry["name"]} ({entry["why"]})')
    if missing:
        problems.append(
            'not installed here and not in the wheel folder: '
            + ', '.join(missing) + '. For torch/torchvision/numpy/OpenCV '
            'install them first; for the others prepare with --full')
    return problems


# (label, module, required for the run)
IMPORT_CHECKS = [
    ('numpy', 'numpy'), ('cv2', 'cv2'), ('torchvision', 'torchvision'),
    ('mmengine', 'mmengine'), ('mmcv', 'mmcv'), ('mmcv.ops', 'mmcv.ops'),
    ('mmseg', 'mmseg'), ('mmdet', 'mmdet'), ('mmpretrain', 'mmpretrain'),
    ('opencd', 'opencd'), ('opencd.models', 'opencd.models'),
    ('ftan_opencd', 'ftan_opencd'), ('rasterio', 'rasterio'),
    ('safetensors', 'safetensors'),
]


def check_imports(cpu: bool, allow_missing: Sequence[str],
                  mmcv_version: Optional[str]) -> Dict:
    """Import the stack module by module; one record per check.

    Args:
        cpu (bool): No CUDA needed (``--cpu-smoke``).
        allow_missing (Sequence[str]): Checks reported but not failed.
        mmcv_version (str, optional): The mmcv version that must import.

    Returns:
        dict: ``info`` (Python, torch, CUDA, GPU), ``checks`` (one record
        each: ``check``, ``ok``, ``detail``, ``allowed``), ``failed`` and
        ``ok``.
    """
    records = []

    def record(label, ok, detail, allowed=False):
        records.append(dict(check=label, ok=ok, detail=detail,
                            allowed=bool(allowed and not ok)))
        mark = 'ok  ' if ok else ('SKIP' if allowed else 'FAIL')
        print(f'[imports] {mark} {label}: {detail}', flush=True)

    info = dict(python=sys.version.split()[0], executable=sys.executable)
    try:
        import torch
        info.update(torch=torch.__version__, cuda=torch.version.cuda)
        record('torch', True, torch.__version__)
        if cpu:
            record('cuda', True, 'not required (--cpu-smoke)')
        elif torch.cuda.is_available():
            info.update(gpu=torch.cuda.get_device_name(0),
                        bf16=torch.cuda.is_bf16_supported())
            x = torch.randn(64, 64, device='cuda')
            torch.cuda.synchronize()
            record('cuda', True, f'{info["gpu"]}, {float((x @ x).sum()):.1f}')
        else:
            record('cuda', False, 'torch.cuda.is_available() is False')
    except Exception as exc:  # noqa: BLE001 - report every failure
        record('torch', False, f'{type(exc).__name__}: {exc}')
    for label, module in IMPORT_CHECKS:
        try:
            mod = importlib.import_module(module)
            detail = str(getattr(mod, '__version__', 'imported'))
            if label == 'mmcv' and mmcv_version and \
                    detail.split('+')[0] != mmcv_version:
                record(label, False, f'{detail}, not {mmcv_version}')
                continue
            if label == 'torchvision':
                import torch
                from torchvision.ops import nms
                nms(torch.rand(4, 4), torch.rand(4), 0.5)
                detail += ', nms op runs'
            if label == 'mmcv.ops':
                import torch
                from mmcv.ops import nms as mmcv_nms
                mmcv_nms(torch.tensor([[0., 0, 2, 2], [0, 0, 2, 2.1]]),
                         torch.tensor([0.9, 0.8]), 0.5)
                detail = 'compiled ops load (nms on CPU)'
            record(label, True, detail)
        except Exception as exc:  # noqa: BLE001
            record(label, False, f'{type(exc).__name__}: {exc}',
                   allowed=label in allow_missing)
    failed = [r['check'] for r in records if not r['ok'] and not r['allowed']]
    return dict(info=info, checks=records, failed=failed, ok=not failed)
