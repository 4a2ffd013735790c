"""Find the checkpoint that ``--resume`` (without a path) continues from.

mmengine's own lookup reads ``work_dir/last_checkpoint`` and trusts it.
mmengine writes that file with a plain ``open(..., 'w')`` after each
checkpoint: a run killed in between can leave it empty or naming a file
that a plain ``CheckpointHook`` left truncated. Here the file it names must
be a complete checkpoint (torch.save's zip archive with its central
directory at the end); otherwise the newest complete ``iter_*.pth`` /
``epoch_*.pth`` is taken, with a warning. Leftover temporary files of
interrupted atomic writes (``.iter_N.partial.pth``) are reported and
removed.
"""
import glob
import logging
import os
import os.path as osp
import re
import zipfile
from typing import Optional

from mmengine.logging import print_log

from .atomic_files import partial_path
from ..errors import UserError

_NUMBERED = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


def is_complete_checkpoint(path: str) -> bool:
    """Whether ``path`` is a whole torch.save file.

    torch.save writes a zip archive whose central directory comes last; a
    file cut short by a killed write lacks it.

    Args:
        path (str): The checkpoint file.

    Returns:
        bool: It exists and is a complete zip archive.
    """
    return osp.isfile(path) and zipfile.is_zipfile(path)


def _warn(message: str) -> None:
    print_log(message, logger='current', level=logging.WARNING)


def remove_stale_partials(work_dir: str) -> None:
    """Report and delete temporary files of interrupted checkpoint writes.

    Args:
        work_dir (str): The run's folder.
    """
    pattern = osp.basename(partial_path('*.pth'))
    for stale in sorted(glob.glob(osp.join(glob.escape(work_dir), pattern))):
        try:
            size = osp.getsize(stale)
            os.remove(stale)
        except FileNotFoundError:  # another rank of this run removed it
            continue
        _warn(f'{stale}: removed an incomplete checkpoint of an '
              f'interrupted run ({size} bytes)')


def latest_complete_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume from in ``work_dir``.

    Args:
        work_dir (str): The run's folder.

    Returns:
        str or None: The file ``last_checkpoint`` names if it is complete,
        else the newest complete numbered checkpoint; None where the folder
        has neither ``last_checkpoint`` nor a checkpoint (a new run).

    Raises:
        UserError: ``last_checkpoint`` exists but no complete checkpoint.
    """
    remove_stale_partials(work_dir)
    record = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip()
        if named and is_complete_checkpoint(named):
            return named
    numbered = []
    for path in glob.glob(osp.join(glob.escape(work_dir), '*.pth')):
        match = _NUMBERED.match(osp.basename(path))
        if match:
            numbered.append((int(match.group(1)), path))
    for _, path in sorted(numbered, reverse=True):
        if is_complete_checkpoint(path):
            if named is not None:
                _warn(f'{record} names {named or "nothing"}, which is '
                      'missing or incomplete (an interrupted write); '
                      f'resuming from {path}, the newest complete '
                      'checkpoint')
            return path
        _warn(f'{path}: incomplete checkpoint (an interrupted write), '
              'skipped')
    if named is not None:
        raise UserError(
            f'--resume: {record} names {named or "nothing"}, which is '
            f'missing or incomplete, and {work_dir} holds no complete '
            'checkpoint; give one with --resume CKPT, or delete '
            f'{record} to start the run over')
    return None
