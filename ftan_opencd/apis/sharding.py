"""Inference over several processes (torchrun or SLURM): who does what.

Two ways to share work between the ranks of a process group:

* **A folder of pairs** is dealt out round-robin (:func:`shard_jobs`):
  each pair is predicted and written (atomically, as in one process) by
  exactly one rank; the per-rank results are gathered in the original
  order and rank 0 writes the one ``predict_summary.json``.
* **One large scene** is cut into row bands of about equal work
  (:func:`.sliding_window.row_bands`). Each rank blends the windows that
  reach its band, which gives the band's rows bit for bit as in one
  process, and writes them to a hidden piece file next to the output
  (:class:`BandPiece`: the mask and the probability as ``.npy``,
  5 bytes per pixel). Rank 0 then streams the pieces, top to bottom,
  through the very writers of a one-process run (GeoTIFF / PNG, and the
  band-by-band vectoriser), so the mask, the probability and the polygons,
  also those of objects crossing a band boundary, are those of one
  process. Pieces are merged by rank 0 rather than written by every rank
  into one GeoTIFF because neither GDAL nor PNG supports concurrent
  writers, and a VRT over per-rank GeoTIFFs would leave the polygons of
  boundary objects split.

The outcome of every rank is gathered before anything gets its final name:
a rank that fails makes every rank fail with the rank and the pair or band
named, and no output appears.
"""
import os
import os.path as osp
from dataclasses import dataclass
from typing import Iterator, List, Sequence, Tuple, TypeVar

import numpy as np
import torch.distributed as dist

from ..errors import USER_ERRORS, UserError
from .writers import NODATA

T = TypeVar('T')
ROWS_PER_READ = 256  # rows of a piece rank 0 reads at a time


@dataclass(frozen=True)
class Shard:
    """This process's place in the group.

    Args:
        rank (int): Rank, ``0 <= rank < world``.
        world (int): Number of processes.
    """

    rank: int = 0
    world: int = 1

    @classmethod
    def current(cls) -> 'Shard':
        """The rank and size of torch.distributed's default group (0 of 1
        when none is initialised)."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()


def shard_jobs(jobs: Sequence[T], shard: Shard) -> List[Tuple[int, T]]:
    """The ``(index, job)`` pairs of ``jobs`` this rank does (round-robin).

    Args:
        jobs (Sequence): All jobs, in the same order on every rank.
        shard (Shard): This process.
    """
    return [(i, job) for i, job in enumerate(jobs)
            if i % shard.world == shard.rank]


def gather(value, shard: Shard) -> list:
    """``value`` of every rank, by rank (``[value]`` in one process).

    Args:
        value: Anything picklable.
        shard (Shard): This process.
    """
    if shard.world == 1:
        return [value]
    values = [None] * shard.world
    dist.all_gather_object(values, value)
    return values


def broadcast(value, shard: Shard):
    """Rank 0's ``value`` on every rank.

    Args:
        value: Anything picklable (ignored on ranks other than 0).
        shard (Shard): This process.
    """
    if shard.world == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def describe_failure(exc: BaseException) -> dict:
    """What :func:`raise_first_failure` needs to know of a rank's error."""
    return dict(user=isinstance(exc, USER_ERRORS),
                text=f'{type(exc).__name__}: {exc}')


def raise_first_failure(outcomes: Sequence, what: str) -> None:
    """Raise if any rank reported a failure.

    Args:
        outcomes (Sequence): Per rank, None (success) or the
            :func:`describe_failure` of its error.
        what (str): What was being done, for the message.

    Raises:
        UserError: The first failed rank's error was a user error (a bad
            input: a one-line error in the tools).
        RuntimeError: Otherwise. Both name the rank and its message.
    """
    for rank, outcome in enumerate(outcomes):
        if outcome is not None:
            message = (f'rank {rank} failed {what}: {outcome["text"]}; no '
                       'output was written')
            raise (UserError if outcome['user'] else RuntimeError)(message)


class BandPiece:
    """The mask and probability rows of one band, in hidden ``.npy`` files
    next to the output (``.<stem>.band<k>.partial.{mask,prob}.npy``).

    Args:
        out_file (str): The final mask file.
        index (int): Band number.
        band (tuple[int, int]): Its rows ``[start, stop)``.
        width (int): Image width.
    """

    def __init__(self, out_file: str, index: int, band: Tuple[int, int],
                 width: int):
        folder, name = osp.split(osp.abspath(out_file))
        stem = osp.splitext(name)[0]
        base = osp.join(folder, f'.{stem}.band{index}.partial')
        self.paths = (base + '.mask.npy', base + '.prob.npy')
        self.start, self.stop = band
        self.width = width

    def create(self) -> None:
        """Allocate the files (this band's rank)."""
        os.makedirs(osp.dirname(self.paths[0]), exist_ok=True)
        shape = (self.stop - self.start, self.width)
        self.mask, self.prob = (
            np.lib.format.open_memmap(path, mode='w+', dtype=dtype,
                                      shape=shape)
            for path, dtype in zip(self.paths, (np.uint8, np.float32)))

    def write(self, start: int, mask: np.ndarray, prob: np.ndarray) -> None:
        """Rows ``[start, start + len(mask))`` of the image."""
        rows = slice(start - self.start, start - self.start + len(mask))
        self.mask[rows] = mask
        self.prob[rows] = prob

    def close(self) -> None:
        """Flush the rows to disk."""
        for array in (self.mask, self.prob):
            array.flush()
        del self.mask, self.prob

    def abort(self) -> None:
        """Drop the files."""
        self.remove()

    def rows(self) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
        """``(first_row, mask, prob)`` blocks of the piece, top to bottom."""
        mask, prob = (np.load(path, mmap_mode='r') for path in self.paths)
        for first in range(0, len(mask), ROWS_PER_READ):
            block = slice(first, first + ROWS_PER_READ)
            yield (self.start + first, np.array(mask[block]),
                   np.array(prob[block]))

    def remove(self) -> None:
        """Delete the files, if any."""
        for path in self.paths:
            if osp.exists(path):
                os.remove(path)


def counts(mask: np.ndarray) -> dict:
    """``pixels``, ``changed`` and ``nodata`` of mask rows."""
    return dict(pixels=int(mask.size), changed=int((mask == 1).sum()),
                nodata=int((mask == NODATA).sum()))
