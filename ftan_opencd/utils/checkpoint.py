"""Load checkpoints without running code from them.

A ``.pth`` file is a pickle, and unpickling can import and call anything.
Every checkpoint this package or its tools load goes through
:func:`load_checkpoint_file`, which only lets the pickle build the inert
types that mmengine checkpoints hold (:data:`CHECKPOINT_GLOBALS`): tensors
and their storages, ordered dicts, numpy arrays, dtypes and scalars, and
mmengine's ``HistoryBuffer`` (message hub) together with its four
statistics methods, which it pickles by name. Anything else is refused with
:class:`UnsafeCheckpointError` before it is imported. How:

* torch >= 2.6: ``torch.load(weights_only=True)``, whose allowlist
  :func:`register_safe_globals` extends by exactly those types (importing
  ``ftan_opencd`` does it, so open-cd's own tools load this project's
  checkpoints too; ``builtins.getattr`` is only registered as
  :func:`history_buffer_method`, which resolves nothing but those four
  methods);
* older torch, whose default still unpickles everything: ``torch.load``
  with a restricted ``pickle_module`` (:class:`RestrictedUnpickler`).

Files you trust can be loaded fully: ``--trust-checkpoint`` on the tools,
``trust_checkpoint=True`` in the Python API or ``trust_checkpoint = True``
in a config. ``.safetensors`` files (``tools/publish_model.py``) hold only
tensors and are always safe; their ``meta`` comes from the JSON file beside
them.

Loading into a model is strict by default (:func:`check_state_dict`): a
checkpoint of another architecture is an error naming the first mismatched
keys and shapes, not a warning.
"""
import contextlib
import importlib
import json
import os.path as osp
import pickle
import re
import struct
import types
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.runner import CheckpointLoader, load_state_dict
from mmengine.runner.checkpoint import load_from_local

from ..errors import UserError

TRUST_HINT = ('If you trust where the file comes from, load it fully: '
              '--trust-checkpoint (tools), trust_checkpoint=True (Python '
              'API) or trust_checkpoint = True (config).')
MAX_LISTED_KEYS = 5
SAFETENSORS_SUFFIX = '.safetensors'
META_SUFFIX = '.meta.json'
# A torch.save zip archive starts with a local file header and ends with the
# end-of-central-directory record, within its last 22 + 65535 bytes.
ZIP_START = b'PK\x03\x04'
ZIP_END = b'PK\x05\x06'
ZIP_END_SEARCH = 22 + 0xFFFF
# The legacy (non-zip) torch.save format starts with a pickled magic number.
LEGACY_START = b'\x80\x02\x8a\x0a'
TRUNCATED_HINT = ('it looks truncated (an incomplete download or copy): '
                  'download or copy it again')

# What mmengine checkpoints hold besides tensors, by the name the pickle
# uses. numpy 1 and numpy 2 spell the array helpers differently.
_NUMPY_HELPERS = {
    f'{package}.multiarray.{name}': f'numpy.core.multiarray:{name}'
    for package in ('numpy.core', 'numpy._core')
    for name in ('_reconstruct', 'scalar')
}
CHECKPOINT_GLOBALS: Dict[str, str] = {
    'collections.OrderedDict': 'collections:OrderedDict',
    'torch._utils._rebuild_tensor_v2': 'torch._utils:_rebuild_tensor_v2',
    'torch._utils._rebuild_parameter': 'torch._utils:_rebuild_parameter',
    'torch.Size': 'torch:Size',
    '_codecs.encode': '_codecs:encode',
    'numpy.ndarray': 'numpy:ndarray',
    'numpy.dtype': 'numpy:dtype',
    **_NUMPY_HELPERS,
    'mmengine.logging.history_buffer.HistoryBuffer':
    'mmengine.logging.history_buffer:HistoryBuffer',
}
HISTORY_BUFFER_METHODS = ('min', 'max', 'mean', 'current')


class CheckpointError(UserError):
    """A checkpoint file cannot be used; the message names the file."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """The checkpoint's pickle would import something that is not inert."""


def _resolve(target: str) -> Any:
    module, name = target.split(':')
    return getattr(importlib.import_module(module), name)


def history_buffer_method(obj: Any, name: str) -> Callable:
    """``getattr`` as checkpoints may call it: a HistoryBuffer statistic.

    mmengine's ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'min')``; nothing else may be looked up.

    Raises:
        UnsafeCheckpointError: For any other object or attribute.
    """
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in HISTORY_BUFFER_METHODS:
        return getattr(obj, name)
    raise UnsafeCheckpointError(
        f'GLOBAL builtins.getattr({getattr(obj, "__name__", type(obj))}, '
        f'{name!r}) is not allowed')


def _numpy_dtype_classes() -> List[type]:
    """numpy >= 1.25 dtype classes (``numpy.dtypes.Float64DType``, ...),
    which torch's weights-only unpickler must see to rebuild a dtype."""
    try:
        import numpy.dtypes as dtypes
    except ImportError:
        return []
    return [
        cls for name, cls in vars(dtypes).items()
        if name.endswith('DType') and isinstance(cls, type)
    ]


def _torch_has_safe_load() -> bool:
    """torch >= 2.6: weights-only loading with named allowlist entries."""
    major, minor = (int(v) for v in torch.__version__.split('.')[:2])
    return (major, minor) >= (2, 6)


def register_safe_globals() -> bool:
    """Add the inert checkpoint types to torch's weights-only allowlist.

    Only on torch >= 2.6 (older torch has no such allowlist, or one that
    cannot map pickle names). Idempotent. Returns True when registered.
    """
    if not _torch_has_safe_load():
        return False
    entries = [(_resolve(target), name)
               for name, target in CHECKPOINT_GLOBALS.items()]
    entries += [(history_buffer_method, name)
                for name in ('builtins.getattr', '__builtin__.getattr')]
    torch.serialization.add_safe_globals(entries + _numpy_dtype_classes())
    return True


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`CHECKPOINT_GLOBALS`.

    Used as ``torch.load(pickle_module=...)`` on torch < 2.6; torch resolves
    its storage types itself before asking this class.
    """

    def find_class(self, module: str, name: str) -> Any:
        full_name = f'{module}.{name}'
        if full_name in ('builtins.getattr', '__builtin__.getattr'):
            return history_buffer_method
        if full_name in CHECKPOINT_GLOBALS:
            return _resolve(CHECKPOINT_GLOBALS[full_name])
        raise UnsafeCheckpointError(f'GLOBAL {full_name} is not allowed')


def _restricted_load(file, **kwargs):
    return RestrictedUnpickler(file, **kwargs).load()


RESTRICTED_PICKLE = types.SimpleNamespace(
    __name__='ftan_opencd_restricted_pickle',
    Unpickler=RestrictedUnpickler,
    load=_restricted_load)


def _refusal(filename: str, exc: Exception) -> CheckpointError:
    """Turn an unpickling failure into an error that names the file."""
    match = re.search(r'GLOBAL ([\w.]+(?:\([^)]*\))?)', str(exc))
    if match:
        return UnsafeCheckpointError(
            f'refused to load checkpoint {filename}: its pickle imports '
            f'{match.group(1).rstrip(".")}, which is not one of the inert types that '
            'mmengine checkpoints hold, so loading it could run code from '
            f'the file. {TRUST_HINT}')
    return CheckpointError(
        f'cannot read {filename} as a checkpoint (expected a .pth file '
        f'written by torch.save, or a {SAFETENSORS_SUFFIX} file): '
        f'{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}')


def truncation(filename: str) -> Optional[str]:
    """Why ``filename`` looks cut short, or None when it does not.

    Reads the file's first bytes and its end (or header) only. Detected:
    a ``torch.save`` zip archive whose end-of-central-directory record is
    missing, and a ``.safetensors`` file shorter than its header or the
    tensor data the header lists. (A legacy, non-zip ``torch.save`` file
    cut short is only seen when reading it fails: see
    :func:`_truncated_error`.)

    Args:
        filename (str): A checkpoint file.

    Returns:
        str, optional: What is missing, for the message.
    """
    size = osp.getsize(filename)
    with open(filename, 'rb') as f:
        start = f.read(8)
        if filename.endswith(SAFETENSORS_SUFFIX):
            return _safetensors_truncation(f, start, size)
        if not start.startswith(ZIP_START):
            return None
        f.seek(max(0, size - ZIP_END_SEARCH))
        if ZIP_END in f.read():
            return None
    return (f'{size} bytes starting like a torch.save zip archive, but its '
            'end (the zip directory) is missing')


def _safetensors_truncation(f, start: bytes, size: int) -> Optional[str]:
    """:func:`truncation` of an open ``.safetensors`` file."""
    if len(start) < 8:
        return None
    (header_size, ) = struct.unpack('<Q', start)
    if 8 + header_size > size:
        return (f'{size} bytes, but its header alone announces '
                f'{8 + header_size}')
    try:
        header = json.loads(f.read(header_size))
        end = max((entry['data_offsets'][1] for key, entry in header.items()
                   if key != '__metadata__'), default=0)
    except (ValueError, TypeError, KeyError, IndexError):
        return None
    expected = 8 + header_size + end
    if expected > size:
        return (f'{size} bytes, but its header lists tensors up to byte '
                f'{expected}')
    return None


def _truncated_error(filename: str, exc: Exception) -> Optional[
        CheckpointError]:
    """The error for a truncated file, None when it does not look so."""
    reason = truncation(filename)
    if reason is None and not filename.endswith(SAFETENSORS_SUFFIX):
        with open(filename, 'rb') as f:
            legacy = f.read(len(LEGACY_START)) == LEGACY_START
        if legacy and (isinstance(exc, EOFError)
                       or 'EOF' in str(exc) or 'truncated' in str(exc)):
            reason = (f'{osp.getsize(filename)} bytes of a legacy '
                      'torch.save file that ends before its data does')
    if reason is None:
        return None
    return CheckpointError(f'cannot read checkpoint {filename}: {reason}; '
                           f'{TRUNCATED_HINT}')


def meta_path(filename: str) -> str:
    """The JSON file holding the ``meta`` of a ``.safetensors`` file."""
    return filename[:-len(SAFETENSORS_SUFFIX)] + META_SUFFIX


def _load_safetensors(filename: str, map_location) -> dict:
    from safetensors.torch import load_file
    device = map_location if isinstance(map_location, str) else 'cpu'
    try:
        state_dict = load_file(filename, device=device)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own
        truncated = _truncated_error(filename, exc)
        if truncated is not None:
            raise truncated from None
        raise CheckpointError(
            f'cannot read {filename} as a safetensors file: {exc}') from exc
    meta = {}
    if osp.isfile(meta_path(filename)):
        with open(meta_path(filename), encoding='utf-8') as f:
            meta = json.load(f)
    return dict(state_dict=state_dict, meta=meta)


def load_checkpoint_file(filename: str,
                         map_location=None,
                         trusted: bool = False) -> dict:
    """Read a checkpoint file without running code from it.

    Args:
        filename (str): ``.pth`` (``torch.save``) or ``.safetensors`` file.
        map_location: As for :func:`torch.load`.
        trusted (bool): Unpickle everything (only for files you trust).
            Defaults to False.

    Returns:
        dict: The checkpoint (``{'state_dict', 'meta'}`` for safetensors).

    Raises:
        FileNotFoundError: The file does not exist or is a directory.
        UnsafeCheckpointError: The pickle imports a non-inert global.
        CheckpointError: The file is not a checkpoint, or looks truncated
            (an incomplete download or copy).
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        what = 'is a directory' if osp.isdir(filename) else 'not found'
        raise FileNotFoundError(f'checkpoint file {what}: {filename}')
    if filename.endswith(SAFETENSORS_SUFFIX):
        return _load_safetensors(filename, map_location)
    try:
        if trusted:
            return torch.load(
                filename, map_location=map_location, weights_only=False)
        if register_safe_globals():
            return torch.load(
                filename, map_location=map_location, weights_only=True)
        return torch.load(
            filename,
            map_location=map_location,
            pickle_module=RESTRICTED_PICKLE,
            weights_only=False)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError,
            ValueError) as exc:
        raise (_truncated_error(filename, exc)
               or _refusal(filename, exc)) from None


@contextlib.contextmanager
def safe_checkpoint_loading(trusted: bool = False) -> Iterator[None]:
    """Route mmengine's local checkpoint loading (``load_from``,
    ``resume``, ``Pretrained`` init) through :func:`load_checkpoint_file`
    while the block runs; mmengine's own loader is restored afterwards.

    Args:
        trusted (bool): See :func:`load_checkpoint_file`.
    """

    def load_from_checked_local(filename, map_location=None):
        return load_checkpoint_file(filename, map_location, trusted)

    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_checked_local, force=True)
    try:
        yield
    finally:
        CheckpointLoader.register_scheme(
            prefixes='', loader=load_from_local, force=True)


def _strip_prefix(state_dict: dict) -> dict:
    return {re.sub(r'^module\.', '', k): v for k, v in state_dict.items()}


def state_dict_of(checkpoint: dict) -> dict:
    """The weights of a checkpoint (mmengine's ``state_dict`` entry, or the
    checkpoint itself when it is a bare state dict)."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, dict):
        raise CheckpointError('the checkpoint holds no state dict')
    return _strip_prefix(state_dict)


def trained_with(checkpoint: dict) -> str:
    """' (trained as <experiment>)' when the checkpoint's meta says so."""
    meta = checkpoint.get('meta') or {}
    name = meta.get('experiment_name')
    return f' (it was trained as {name})' if name else ''


def mismatches(model: nn.Module,
               state_dict: dict) -> Tuple[List[str], List[str], List[str]]:
    """Keys missing from ``state_dict``, keys the model lacks, and shape
    mismatches (as ``'key: checkpoint (..) vs model (..)'``)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
        for k, v in state_dict.items()
        if k in own and hasattr(v, 'shape') and v.shape != own[k].shape
    ]
    return missing, unexpected, shapes


def _listed(items: List[str]) -> str:
    more = f', ... ({len(items)} in all)' if len(items) > MAX_LISTED_KEYS \
        else ''
    return ', '.join(items[:MAX_LISTED_KEYS]) + more


def check_state_dict(model: nn.Module,
                     checkpoint: dict,
                     source: str,
                     strict: bool = True) -> None:
    """Refuse (``strict``) or log weights that do not fit ``model``.

    Args:
        model (nn.Module): The model to load into.
        checkpoint (dict): The loaded checkpoint.
        source (str): File name for messages.
        strict (bool): Raise on any mismatch; otherwise log what will not
            be loaded (fine-tuning). Defaults to True.

    Raises:
        CheckpointError: ``strict`` and the weights do not fit.
    """
    missing, unexpected, shapes = mismatches(model, state_dict_of(checkpoint))
    if not (missing or unexpected or shapes):
        return
    parts = [f'{title} ({len(keys)}): {_listed(keys)}'
             for title, keys in (('shape mismatches', shapes),
                                 ('missing in the checkpoint', missing),
                                 ('not in the model', unexpected)) if keys]
    message = (f'{source} does not fit the model{trained_with(checkpoint)}: '
               + '; '.join(parts))
    if strict:
        raise CheckpointError(
            message + '. Use the config it was trained with, or load it '
            'partially on purpose (--partial-load / strict=False) to '
            'fine-tune.')
    print_log(f'partial load, not loaded: {message}', logger='current',
              level=30)


def load_weights(model: nn.Module,
                 filename: str,
                 map_location=None,
                 strict: bool = True,
                 trusted: bool = False) -> dict:
    """Load a checkpoint file into ``model`` safely and (by default)
    strictly. Returns the checkpoint (its ``meta`` included)."""
    checkpoint = load_checkpoint_file(filename, map_location, trusted)
    check_state_dict(model, checkpoint, filename, strict)
    own = model.state_dict()
    weights = {
        k: v
        for k, v in state_dict_of(checkpoint).items()
        if k in own and getattr(v, 'shape', None) == own[k].shape
    }
    load_state_dict(model, weights, strict=False, logger='silent')
    return checkpoint
