"""The pairs a prediction run writes, checked before the model is built.

A :class:`PairJob` names the two dates and the output file(s) of one pair;
:func:`folder_jobs` lists the jobs of two folders matched by file name and
:func:`check_jobs` refuses outputs that could not be written (unknown or
lossy suffix, an input as output, a folder that cannot be written, a bad
vector file) before any computation. :func:`write_summary` records how a
folder run went in ``predict_summary.json``.
"""
import json
import os
import os.path as osp
import tempfile
from dataclasses import dataclass
from typing import List, Optional, Sequence

from mmengine.logging import print_log

from ..errors import UserError
from .folders import output_name, pair_folders
from .sources import ImageLike
from .vectorize import check_vector_file
from .writers import check_output_files

SUMMARY_NAME = 'predict_summary.json'


@dataclass(frozen=True)
class PairJob:
    """One pair to predict and the files its result goes to.

    Args:
        img1 (str | np.ndarray): Date 1.
        img2 (str | np.ndarray): Date 2.
        out (str): Mask file.
        prob (str, optional): Probability file, or None.
    """

    img1: ImageLike
    img2: ImageLike
    out: str
    prob: Optional[str] = None

    def outputs(self) -> List[str]:
        """The files this job writes."""
        return [p for p in (self.out, self.prob) if p is not None]

    def done(self) -> bool:
        """Whether every output exists (outputs appear only complete)."""
        return all(osp.isfile(p) for p in self.outputs())


def prob_path(out_file: str) -> str:
    """``<out stem>_prob<out suffix>``, the probability file of a mask."""
    stem, suffix = osp.splitext(out_file)
    return f'{stem}_prob{suffix}'


def folder_jobs(dir1: str, dir2: str, out_dir: str,
                prob: bool = False) -> List[PairJob]:
    """The jobs of every file name present in both folders.

    Names in one folder only are skipped, with a log line naming them.

    Args:
        dir1 (str): Folder of date 1 images.
        dir2 (str): Folder of date 2 images.
        out_dir (str): Folder of the masks (``<name>.png``, or the input
            name for GeoTIFFs).
        prob (bool): Also write ``<mask stem>_prob.<ext>``.

    Raises:
        UserError: No file name is in both folders.
        FileNotFoundError: A folder does not exist.
    """
    names, only1, only2 = pair_folders(dir1, dir2)
    for folder, unmatched in ((dir1, only1), (dir2, only2)):
        if unmatched:
            print_log(f'{len(unmatched)} image(s) only in {folder}, '
                      f'skipped: {", ".join(unmatched)}', logger='current')
    if not names:
        raise UserError(f'no file name is in both {dir1} and {dir2}: pairs '
                        'are matched by identical file names')
    jobs = []
    for name in names:
        out = osp.join(out_dir, output_name(name))
        jobs.append(PairJob(osp.join(dir1, name), osp.join(dir2, name), out,
                            prob_path(out) if prob else None))
    return jobs


def check_writable(path: str) -> None:
    """Refuse an output whose folder cannot be created or written.

    The nearest existing folder of ``path`` gets a temporary file (removed
    at once), which is the one test that is right on every file system
    (``os.access`` says yes to root on read-only mounts).

    Args:
        path (str): Output file.

    Raises:
        UserError: Naming ``path`` and the folder.
    """
    folder = osp.dirname(osp.abspath(path))
    existing = folder
    while not osp.exists(existing):
        existing = osp.dirname(existing)
    if not osp.isdir(existing):
        raise UserError(f'cannot write {path}: {existing} is a file, not a '
                        'folder')
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix='.ftan-probe'):
            pass
    except OSError as exc:
        raise UserError(f'cannot write {path}: folder {existing} is not '
                        f'writable ({exc.strerror}); choose another output '
                        'path') from None


def check_jobs(jobs: Sequence[PairJob],
               vector_file: Optional[str] = None) -> None:
    """Refuse outputs that could not be written, before any computation.

    Args:
        jobs (Sequence[PairJob]): The jobs of the run.
        vector_file (str, optional): Change polygons file (one pair only).

    Raises:
        UserError: Naming the output and what to change.
    """
    if vector_file is not None and len(jobs) != 1:
        raise UserError('the vector file holds the polygons of one pair: '
                        'give one pair, not a folder')
    for job in jobs:
        check_output_files(job.out, job.prob, (job.img1, job.img2))
        for path in job.outputs():
            check_writable(path)
    if vector_file is not None:
        job = jobs[0]
        try:
            check_vector_file(vector_file,
                              (job.img1, job.img2, job.out, job.prob))
        except (ImportError, ValueError) as exc:
            raise UserError(f'vector file {vector_file}: {exc}') from None
        check_writable(vector_file)


def write_summary(out_dir: str, results: List[dict]) -> str:
    """Write :data:`SUMMARY_NAME` (the status of every pair) atomically.

    Args:
        out_dir (str): Output folder.
        results (list[dict]): One dict per pair with a ``status`` of
            ``'ok'``, ``'skipped'`` (complete output kept) or ``'failed'``.

    Returns:
        str: The summary file.
    """
    path = osp.join(out_dir, SUMMARY_NAME)
    failed = [r for r in results if r['status'] == 'failed']
    partial = path + '.partial'
    os.makedirs(out_dir, exist_ok=True)
    with open(partial, 'w') as f:
        json.dump(dict(complete=not failed, pairs=len(results),
                       failed=len(failed), results=results), f, indent=1)
    os.replace(partial, path)
    return path
