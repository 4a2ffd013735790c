"""Turn a training checkpoint into weights that are safe to share.

    python tools/publish_model.py IN.pth OUT_STEM [--trust-checkpoint]

Drops the optimizer, schedulers and message hub, and writes the weights as
``<OUT_STEM>-<sha256[:8]>.safetensors`` (tensors only: loading it can never
run code) beside ``<OUT_STEM>-<sha256[:8]>.meta.json`` (the checkpoint's
``meta``: data set classes, config, experiment name), as OpenMMLab's
``publish_model.py`` names its files. ``tools/test.py``, ``tools/predict.py``,
``load_from`` and ``init_model`` take the ``.safetensors`` file. Mistakes
(a config or a folder given as IN.pth, a file that is not a checkpoint, a
folder as OUT_STEM) end with one ``error: ...`` line and exit status 2.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import sys

import numpy as np
import torch

from ftan_opencd.cli import add_trust_argument
from ftan_opencd.utils import load_checkpoint_file
from ftan_opencd.utils.checkpoint import (META_SUFFIX, SAFETENSORS_SUFFIX,
                                          state_dict_of)
from ftan_opencd.errors import UserError, exit_on_user_error
from ftan_opencd.utils.user_errors import check_checkpoint_path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('in_file', help='checkpoint written by training')
    parser.add_argument(
        'out_stem',
        help='output path without suffix, e.g. work_dirs/ftan-b_levircd')
    add_trust_argument(parser)
    return parser.parse_args(argv)


def json_value(value):
    """JSON form of the numpy / tuple values found in mmengine's meta."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f'meta value of type {type(value).__name__} cannot be '
                    'written as JSON')


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def check_arguments(in_file: str, out_stem: str) -> None:
    """Check IN.pth and OUT_STEM before reading anything.

    Args:
        in_file (str): The checkpoint argument.
        out_stem (str): The output path without suffix.

    Raises:
        UserError, FileNotFoundError, IsADirectoryError: Naming the
            argument and what to do.
    """
    check_checkpoint_path(
        in_file, 'IN.pth',
        'give the .pth checkpoint written by tools/train.py (the config is '
        'stored in its meta)')
    if osp.isdir(out_stem) or out_stem.endswith(('/', os.sep)):
        raise UserError(
            f'OUT_STEM {out_stem} is a folder: give a file name without '
            f'suffix in it, e.g. {osp.join(out_stem, "ftan-b_levircd")}')


def publish(in_file: str, out_stem: str, trusted: bool = False) -> str:
    """Write the safetensors + meta JSON pair.

    Args:
        in_file (str): The training checkpoint.
        out_stem (str): Output path without suffix.
        trusted (bool): Unpickle the checkpoint fully.

    Returns:
        str: The path of the ``.safetensors`` file.
    """
    from safetensors.torch import save_file
    if osp.splitext(out_stem)[1] in ('.pth', SAFETENSORS_SUFFIX):
        out_stem = osp.splitext(out_stem)[0]
    checkpoint = load_checkpoint_file(in_file, 'cpu', trusted)
    weights = {
        key: value.detach().cpu().contiguous().clone()
        for key, value in state_dict_of(checkpoint).items()
        if isinstance(value, torch.Tensor)
    }
    if not weights:
        raise UserError(f'{in_file} holds no tensors to publish')
    os.makedirs(osp.dirname(osp.abspath(out_stem)), exist_ok=True)
    partial = out_stem + '.partial' + SAFETENSORS_SUFFIX
    save_file(weights, partial)
    sha = sha256_of(partial)
    final = f'{out_stem}-{sha[:8]}'
    meta = dict(checkpoint.get('meta') or {}, sha256=sha,
                source_checkpoint=osp.basename(in_file))
    with open(final + META_SUFFIX, 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=2, default=json_value)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial, 0o666 & ~umask)
    os.replace(partial, final + SAFETENSORS_SUFFIX)
    return final + SAFETENSORS_SUFFIX


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    check_arguments(args.in_file, args.out_stem)
    path = publish(args.in_file, args.out_stem, args.trust_checkpoint)
    print(f'published {path} (+ {osp.basename(path)[:-12]}{META_SUFFIX})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
