"""Expected user errors of the tools, reported as ``error: <message>``.

A wrong path, a config and a checkpoint given in the wrong order, an
option out of range or an unreadable image is not a bug: the tools say in
one line what is wrong and what to do, on stderr, and exit with status
:data:`USER_ERROR_STATUS`, without a Python traceback.
:func:`exit_on_user_error` wraps a tool's ``main`` to do that for the
exception types of :data:`USER_ERRORS` only; anything else (a bug) keeps
its traceback. Set ``FTAN_TRACEBACK=1`` to see the traceback of a user
error too.

The checks here run before anything is built: :func:`check_config_path`,
:func:`check_checkpoint_path` (with the "swapped?" hint) and
:func:`check_device`.
"""
import functools
import os
import os.path as osp
import re
import sys
import zipfile
from typing import Callable, Optional, Sequence

from .checkpoint import SAFETENSORS_SUFFIX, CheckpointError

USER_ERROR_STATUS = 1  # as SystemExit("message") exits
TRACEBACK_ENV = 'FTAN_TRACEBACK'
CONFIG_SUFFIXES = ('.py', '.json', '.yml', '.yaml')
CHECKPOINT_SUFFIXES = ('.pth', '.pt', '.ckpt', '.bin', SAFETENSORS_SUFFIX)
# The first byte of a pickle of protocol 2 or higher (torch's legacy format).
PICKLE_PROTO = b'\x80'
# mmengine's registry re-raises a constructor's error as
# "class `Name` in package/module.py: <message>".
_REGISTRY_PREFIX = re.compile(r'^class `\w+` in [\w/.]+: ')
_WORKER_TRACEBACK = 'Original Traceback (most recent call last)'
SWAP_HINT = 'config and checkpoint swapped? The order is CONFIG CHECKPOINT'


class UserError(ValueError):
    """A mistake in the command line, the config or the data.

    The message names the file or option and says what to do. A
    ``ValueError`` subclass, so code that catches ``ValueError`` still
    catches it.
    """


# FileNotFoundError & co. come from the folder and file checks (data roots,
# data sets, checkpoint files); CheckpointError from reading a checkpoint.
USER_ERRORS = (UserError, CheckpointError, FileNotFoundError,
               IsADirectoryError, NotADirectoryError)


def user_message(exc: BaseException) -> str:
    """The message of a user error, without wrappers added on its way up.

    A data loader worker's error carries the worker's traceback as text
    (its last line is the original ``Type: message``); mmengine's registry
    prefixes ``class `Name` in module.py:``. Both are dropped.

    Args:
        exc (BaseException): The error.

    Returns:
        str: The message to show.
    """
    text = str(exc)
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f'{exc.strerror}: {exc.filename}'
    if _WORKER_TRACEBACK in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = re.sub(r'^[\w.]+: ', '', last.strip())
    while _REGISTRY_PREFIX.match(text):
        text = _REGISTRY_PREFIX.sub('', text, count=1)
    return text or type(exc).__name__


def exit_on_user_error(main: Callable) -> Callable:
    """Wrap a tool's ``main``: a user error exits with one message.

    The exception types of :data:`USER_ERRORS` are printed as
    ``error: <message>`` on stderr and end the process with status
    :data:`USER_ERROR_STATUS` (``SystemExit``); other exceptions pass
    through with their traceback. ``FTAN_TRACEBACK=1`` re-raises user
    errors too.

    Args:
        main (Callable): The tool's entry point.

    Returns:
        Callable: ``main`` with the same signature and return value.
    """

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except USER_ERRORS as exc:
            if os.environ.get(TRACEBACK_ENV, '') not in ('', '0'):
                raise
            print(f'error: {user_message(exc)}', file=sys.stderr, flush=True)
            raise SystemExit(USER_ERROR_STATUS) from None

    return wrapper


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
    import torch
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpus = ['cuda'] + [f'cuda:{i}' for i in range(count)] if count else []
    return ['cpu'] + gpus


def check_device(device: str, option: str = '--device') -> str:
    """Refuse a device that torch does not know or this machine lacks.

    Args:
        device (str): E.g. ``cpu``, ``cuda``, ``cuda:1``.
        option (str): The option, for the message.

    Returns:
        str: ``device`` unchanged.

    Raises:
        UserError: Naming the valid devices of this machine.
    """
    valid = available_devices()
    if device in valid:
        return device
    listed = ', '.join(valid)
    if re.fullmatch(r'cuda(:\d+)?', device):
        reason = ('no CUDA GPU is visible to torch on this machine'
                  if len(valid) == 1 else 'no such GPU on this machine')
    elif device.lower().startswith('gpu'):
        reason = 'unknown device (a GPU is "cuda" or "cuda:N")'
    else:
        reason = 'unknown device'
    raise UserError(f'{option} {device}: {reason}; valid devices here: '
                    f'{listed}')
