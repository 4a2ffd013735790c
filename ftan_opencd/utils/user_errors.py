"""Checks of the tools' arguments that run before anything is built.

:func:`check_config_path`, :func:`check_checkpoint_path` (with the
"swapped?" hint) and :func:`check_device` raise a
:class:`~ftan_opencd.errors.UserError` (or ``FileNotFoundError`` /
``IsADirectoryError``) that names the argument and says what to give
instead; :func:`ftan_opencd.errors.exit_on_user_error` reports it as one
``error: ...`` line. ``UserError`` and ``exit_on_user_error`` can be
imported from here too (the tools' checks and their wrapper in one import).
"""
import os.path as osp
import re
import zipfile
from typing import Optional, Sequence, Union

import torch

from ..errors import UserError, exit_on_user_error
from .checkpoint import SAFETENSORS_SUFFIX

CONFIG_SUFFIXES = ('.py', '.json', '.yml', '.yaml')
CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.ckpt', '.bin', SAFETENSORS_SUFFIX)
# The first byte of a pickle of protocol 2 or higher (torch's legacy format).
PICKLE_PROTO = b'\x80'
SWAP_HINT = 'config and checkpoint swapped? The order is CONFIG CHECKPOINT'
__all__ = [
    'CONFIG_SUFFIXES', 'CHECKPOINT_SUFFIXES', 'SWAP_HINT', 'UserError',
    'available_devices', 'check_checkpoint_path', 'check_config_path',
    'check_device', 'check_tool_paths', 'exit_on_user_error'
]


# ------------------------------------------------------------- file checks
def _suffix(path: str) -> str:
    """The lower-case suffix of ``path`` (e.g. ``.pth``)."""
    return osp.splitext(str(path))[1].lower()


def _is_binary_checkpoint(path: str) -> bool:
    """Whether ``path`` starts like a torch.save or safetensors file.

    torch.save writes a zip archive (or, in the legacy format, a pickle);
    a safetensors file starts with an 8-byte header length and ``{``.

    Args:
        path (str): An existing file.

    Returns:
        bool: False for text files, empty files and other formats.
    """
    if path.endswith(SAFETENSORS_SUFFIX):
        with open(path, 'rb') as f:
            head = f.read(9)
        return len(head) == 9 and head[8:9] == b'{'
    if zipfile.is_zipfile(path):
        return True
    with open(path, 'rb') as f:
        return f.read(1) == PICKLE_PROTO


def check_config_path(path: str, option: str = 'CONFIG',
                      checkpoint_hint: Optional[str] = None) -> None:
    """Refuse a config argument that cannot be a config file.

    Args:
        path (str): The argument.
        option (str): Its name in the usage line, for the message.
        checkpoint_hint (str, optional): What to say when ``path`` is a
            checkpoint (e.g. that the arguments look swapped).

    Raises:
        UserError: ``path`` looks like a checkpoint (``.pth`` ...), or has a
            suffix mmengine cannot read.
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a folder.
    """
    path = str(path)
    suffix = _suffix(path)
    if suffix in CHECKPOINT_SUFFIXES:
        hint = checkpoint_hint or ('give the config file (.py) that defines '
                                   'the model')
        raise UserError(f'{option} {path} is a checkpoint ({suffix}), not a '
                        f'config: {hint}')
    if osp.isdir(path):
        raise IsADirectoryError(f'{option} {path} is a folder, not a config '
                                'file (.py)')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{option} {path}: config file not found')
    if suffix not in CONFIG_SUFFIXES:
        raise UserError(f'{option} {path}: a config is a '
                        f'{"/".join(CONFIG_SUFFIXES)} file')


def check_checkpoint_path(path: str, option: str = 'CHECKPOINT',
                          config_hint: Optional[str] = None) -> None:
    """Refuse a checkpoint argument that cannot be a checkpoint file.

    Only the file's name and first bytes are read, so this is cheap and
    runs before anything is built; reading the file itself may still fail
    (``CheckpointError``).

    Args:
        path (str): The argument.
        option (str): Its name in the usage line, for the message.
        config_hint (str, optional): What to say when ``path`` is a config
            file (e.g. that the arguments look swapped).

    Raises:
        UserError: ``path`` is a config file, or not a ``torch.save`` /
            safetensors file (e.g. text).
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a folder.
    """
    path = str(path)
    suffix = _suffix(path)
    if suffix in CONFIG_SUFFIXES:
        hint = config_hint or ('give the .pth file written by '
                               'tools/train.py (or a .safetensors file)')
        raise UserError(f'{option} {path} is a config file ({suffix}), not '
                        f'a checkpoint: {hint}')
    if osp.isdir(path):
        raise IsADirectoryError(
            f'{option} {path} is a folder, not a checkpoint file: give one '
            '.pth file in it (e.g. the one named in its last_checkpoint)')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{option} {path}: checkpoint file not found')
    if not _is_binary_checkpoint(path):
        raise UserError(
            f'{option} {path} is not a checkpoint (empty, text or another '
            'format): give a .pth file written by tools/train.py '
            '(torch.save) or a .safetensors file of tools/publish_model.py')


def check_tool_paths(config: str, checkpoint: str) -> None:
    """Check a tool's ``CONFIG CHECKPOINT`` pair, suggesting a swap.

    Args:
        config (str): The config argument.
        checkpoint (str): The checkpoint argument.

    Raises:
        UserError, FileNotFoundError, IsADirectoryError: See
            :func:`check_config_path` and :func:`check_checkpoint_path`.
    """
    check_config_path(config, 'CONFIG', SWAP_HINT)
    check_checkpoint_path(checkpoint, 'CHECKPOINT', SWAP_HINT)


# ----------------------------------------------------------------- devices
def available_devices() -> Sequence[str]:
    """The devices torch can use on this machine.

    Returns:
        list[str]: ``cpu``, then ``cuda`` and ``cuda:0`` ... when CUDA GPUs
        are visible.
    """
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpus = ['cuda'] + [f'cuda:{i}' for i in range(count)] if count else []
    return ['cpu'] + gpus


def check_device(device: Union[str, torch.device],
                 option: str = '--device') -> str:
    """Refuse a device that torch does not know or this machine lacks.

    The one device check of the tools and the Python API: ``cuda:N`` with
    ``N`` beyond ``torch.cuda.device_count()`` is refused, as is ``cuda``
    where torch sees no GPU.

    Args:
        device (str | torch.device): E.g. ``cpu``, ``cuda``, ``cuda:1``.
        option (str): The option or argument, for the message.

    Returns:
        str: The device as a string (``torch.device('cuda', 1)`` gives
        ``'cuda:1'``).

    Raises:
        UserError: Naming the valid devices of this machine.
    """
    name = str(device)
    valid = available_devices()
    if name in valid:
        return name
    listed = ', '.join(valid)
    if re.fullmatch(r'cuda(:\d+)?', name):
        reason = ('no CUDA GPU is visible to torch on this machine'
                  if len(valid) == 1 else 'no such GPU on this machine')
    elif name.lower().startswith('gpu'):
        reason = 'unknown device (a GPU is "cuda" or "cuda:N")'
    else:
        reason = 'unknown device'
    raise UserError(f'{option} {name}: {reason}; valid devices here: '
                    f'{listed}')
