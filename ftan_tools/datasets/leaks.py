"""Find image pairs that repeat across the splits of a data set, by content.

A pair of the test split that is also in the training split (under any
name) makes the test metrics optimistic. ChangeFormer's processed DSIFN-CD
is the known case: its issue #52 reports that 164 of the 192 test images
named in ``test.txt`` are also in ``train.txt``. This module compares the
splits by **content**, never by name:

* each image is decoded as stored (rule 1 of :mod:`ftan_opencd.pixels`,
  or the reader given) and hashed: SHA-1 of its shape, dtype and pixel
  bytes (:func:`image_digest`);
* a pair is the SHA-1 of its two image digests (:func:`pair_digest`), so
  two pairs are duplicates when both dates are identical pixel for pixel;
* a pair whose date-1 image alone (or date-2 image alone) repeats an image
  of another split, with the other date different, is reported apart: it is
  not the same change pair and is never dropped.

Splits are compared in the order train, val, test (other names after
them, in the order given): a duplicate belongs to the later split, so
:func:`drop_leaks` removes from val the pairs also in train, and from test
the pairs also in train or val; train is never changed. Every image is read
once; only the digests are kept in memory.
"""
import hashlib
from typing import Callable, Dict, List, NamedTuple, Sequence, Tuple

import numpy as np
from mmengine.utils import ProgressBar

from ftan_opencd.pixels import decode_file

SPLIT_ORDER = ('train', 'val', 'test')
MAX_EXAMPLES = 3
Pair = Tuple[str, str, str, str]  # stem, image from, image to, label
Reader = Callable[[str], np.ndarray]
SplitPair = Tuple[str, str]  # (earlier split, later split)


class PairDigest(NamedTuple):
    """The content digests of one pair.

    Attributes:
        stem (str): File stem of the pair in its split.
        pair (str): Digest of both dates (:func:`pair_digest`).
        a (str): Digest of the date-1 image.
        b (str): Digest of the date-2 image.
    """
    stem: str
    pair: str
    a: str
    b: str


class Duplicate(NamedTuple):
    """A pair of a later split that repeats content of an earlier split.

    Attributes:
        stem (str): Its stem in the later split.
        other (str): The stem it repeats in the earlier split.
    """
    stem: str
    other: str


class LeakReport(NamedTuple):
    """What the comparison of the splits found.

    Attributes:
        order (tuple[str]): The splits compared, earlier first.
        sizes (dict[str, int]): Pairs per split.
        pairs (dict): ``(earlier, later)`` -> the pairs of ``later`` whose
            two dates both repeat a pair of ``earlier``.
        same_a (dict): ``(earlier, later)`` -> the pairs of ``later`` whose
            date-1 image alone repeats one of ``earlier`` (date 2 differs).
        same_b (dict): The same for the date-2 image alone.
    """
    order: Tuple[str, ...]
    sizes: Dict[str, int]
    pairs: Dict[SplitPair, List[Duplicate]]
    same_a: Dict[SplitPair, List[Duplicate]]
    same_b: Dict[SplitPair, List[Duplicate]]

    def leaked(self) -> Dict[str, List[str]]:
        """The stems of each later split that repeat an earlier pair.

        Returns:
            dict[str, list[str]]: Sorted stems per split that has any.
        """
        stems: Dict[str, set] = {}
        for (_, later), found in self.pairs.items():
            stems.setdefault(later, set()).update(d.stem for d in found)
        return {split: sorted(found) for split, found in stems.items()
                if found}

    @property
    def has_leaks(self) -> bool:
        """Whether any pair repeats across splits."""
        return any(self.pairs.values())


# ------------------------------------------------------------------ digests
def image_digest(pixels: np.ndarray) -> str:
    """SHA-1 of an image's shape, dtype and pixel bytes.

    Args:
        pixels (np.ndarray): The decoded image.

    Returns:
        str: Hex digest; equal only for identical shape, dtype and pixels.
    """
    digest = hashlib.sha1(f'{pixels.shape}|{pixels.dtype.str}|'.encode())
    digest.update(np.ascontiguousarray(pixels).data)
    return digest.hexdigest()


def pair_digest(a: str, b: str) -> str:
    """The digest of a pair from its two image digests (order matters).

    Args:
        a (str): Digest of the date-1 image.
        b (str): Digest of the date-2 image.
    """
    return hashlib.sha1(f'{a}|{b}'.encode()).hexdigest()


def digest_pair(pair: Pair, read: Reader = decode_file) -> PairDigest:
    """Read both dates of a pair once and digest them.

    Args:
        pair (Pair): ``(stem, from, to, label)``; the label is not read.
        read (Callable[[str], np.ndarray]): Decodes an image file.
    """
    stem, path_a, path_b = pair[:3]
    a, b = image_digest(read(path_a)), image_digest(read(path_b))
    return PairDigest(stem, pair_digest(a, b), a, b)


def split_order(splits: Sequence[str]) -> Tuple[str, ...]:
    """train, val, test first (in that order), then other names as given.

    Args:
        splits (Sequence[str]): Split names.
    """
    rank = {name: i for i, name in enumerate(SPLIT_ORDER)}
    return tuple(sorted(splits, key=lambda s: (rank.get(s, len(rank)),
                                               list(splits).index(s))))


def digest_splits(pairs: Dict[str, Sequence[Pair]],
                  read: Reader = decode_file,
                  progress: bool = True) -> Dict[str, List[PairDigest]]:
    """Digest every pair of every split (each image read once).

    Args:
        pairs (dict[str, Sequence[Pair]]): Pairs per split.
        read (Callable[[str], np.ndarray]): Decodes an image file.
        progress (bool): Show a progress bar.

    Returns:
        dict[str, list[PairDigest]]: Digests per split, in the pairs' order.
    """
    bar = ProgressBar(sum(map(len, pairs.values()))) if progress else None
    digests = {}
    for split, listed in pairs.items():
        digests[split] = []
        for pair in listed:
            digests[split].append(digest_pair(pair, read))
            if bar:
                bar.update()
    if bar:
        print()
    return digests


# --------------------------------------------------------------- comparison
def _first_stem(digests: Sequence[PairDigest],
                field: str) -> Dict[str, str]:
    """Map a digest field's value -> the first stem that has it."""
    index: Dict[str, str] = {}
    for digest in digests:
        index.setdefault(getattr(digest, field), digest.stem)
    return index


def compare_two(earlier: Sequence[PairDigest], later: Sequence[PairDigest]
                ) -> Tuple[List[Duplicate], List[Duplicate], List[Duplicate]]:
    """The pairs of ``later`` that repeat content of ``earlier``.

    Args:
        earlier (Sequence[PairDigest]): Digests of the earlier split.
        later (Sequence[PairDigest]): Digests of the later split.

    Returns:
        tuple: Pair duplicates (both dates repeat one pair), then the pairs
        that repeat only a date-1 image, then only a date-2 image.
    """
    index = {field: _first_stem(earlier, field)
             for field in ('pair', 'a', 'b')}
    found: Dict[str, List[Duplicate]] = dict(pair=[], a=[], b=[])
    for digest in later:
        fields = ('pair', ) if digest.pair in index['pair'] else ('a', 'b')
        for field in fields:
            other = index[field].get(getattr(digest, field))
            if other is not None:
                found[field].append(Duplicate(digest.stem, other))
    return found['pair'], found['a'], found['b']


def compare_digests(digests: Dict[str, Sequence[PairDigest]]) -> LeakReport:
    """Compare each split with every earlier one (:func:`split_order`).

    Args:
        digests (dict[str, Sequence[PairDigest]]): From
            :func:`digest_splits`.

    Returns:
        LeakReport: Pair duplicates, and pairs sharing one date only.
    """
    order = split_order(list(digests))
    report = LeakReport(order, {s: len(digests[s]) for s in order}, {}, {},
                        {})
    for i, later in enumerate(order):
        for earlier in order[:i]:
            key = (earlier, later)
            (report.pairs[key], report.same_a[key],
             report.same_b[key]) = compare_two(digests[earlier],
                                               digests[later])
    return report


def find_leaks(pairs: Dict[str, Sequence[Pair]],
               read: Reader = decode_file,
               progress: bool = True) -> LeakReport:
    """Read every pair once and compare the splits by content.

    Args:
        pairs (dict[str, Sequence[Pair]]): ``(stem, from, to, label)``
            tuples per split (e.g. from
            :func:`ftan_tools.datasets.tiling.find_pairs`).
        read (Callable[[str], np.ndarray]): Decodes an image file (default:
            OpenCV as stored, :func:`ftan_opencd.pixels.decode_file`).
        progress (bool): Show a progress bar.

    Returns:
        LeakReport: What repeats across the splits.
    """
    return compare_digests(digest_splits(pairs, read, progress))


def drop_leaks(pairs: Dict[str, Sequence[Pair]], report: LeakReport
               ) -> Tuple[Dict[str, List[Pair]], Dict[str, int]]:
    """The splits without the pairs that repeat an earlier split.

    Args:
        pairs (dict[str, Sequence[Pair]]): Pairs per split.
        report (LeakReport): From :func:`find_leaks` on the same pairs.

    Returns:
        tuple: The kept pairs per split and the number dropped per split.
    """
    leaked = {split: set(stems) for split, stems in report.leaked().items()}
    kept = {split: [p for p in listed if p[0] not in leaked.get(split, ())]
            for split, listed in pairs.items()}
    dropped = {split: len(pairs[split]) - len(kept[split]) for split in pairs}
    return kept, dropped


# ------------------------------------------------------------------ report
def _examples(found: Sequence[Duplicate], earlier: str, later: str) -> str:
    """``e.g. test/x = train/y, ...`` for the first few duplicates."""
    shown = ', '.join(f'{later}/{d.stem} = {earlier}/{d.other}'
                      for d in found[:MAX_EXAMPLES])
    more = f', ... ({len(found) - MAX_EXAMPLES} more)' if len(
        found) > MAX_EXAMPLES else ''
    return f'e.g. {shown}{more}'


def _pair_lines(report: LeakReport) -> List[str]:
    """One line per compared split pair: the pair duplicates."""
    lines = []
    for (earlier, later), found in report.pairs.items():
        if found:
            lines.append(f'  {earlier}/{later}: {len(found)} of '
                         f'{report.sizes[later]} {later} pair(s) also in '
                         f'{earlier}, ' + _examples(found, earlier, later))
        else:
            lines.append(f'  {earlier}/{later}: no {later} pair is also in '
                         f'{earlier}')
    return lines


def _one_date_lines(report: LeakReport) -> List[str]:
    """Lines for pairs that share only one date with an earlier split."""
    lines = []
    for name, table in (('date-1 (A) image', report.same_a),
                        ('date-2 (B) image', report.same_b)):
        found = {key: dups for key, dups in table.items() if dups}
        if not found:
            lines.append(f'  same {name} only: none')
            continue
        lines.append(f'  same {name} only, other date differs (not dropped): '
                     + '; '.join(f'{e}/{l} {len(d)} ({_examples(d, e, l)})'
                                 for (e, l), d in found.items()))
    return lines


def report_lines(report: LeakReport) -> List[str]:
    """Describe a :class:`LeakReport` for the console.

    Args:
        report (LeakReport): From :func:`find_leaks`.

    Returns:
        list[str]: A title line, one line per compared split pair and the
        one-date repeats; a single line when fewer than two splits.
    """
    if len(report.order) < 2:
        return [f'leak check: only the split(s) {list(report.order)}: '
                'nothing to compare']
    sizes = ', '.join(f'{s} {n}' for s, n in report.sizes.items())
    return ([f'leak check by content ({sizes} pairs; both dates decoded '
             'and hashed, names ignored):'] + _pair_lines(report) +
            _one_date_lines(report))


def leak_summary(report: LeakReport) -> str:
    """One line: how many pairs repeat, per split (or that none do).

    Args:
        report (LeakReport): From :func:`find_leaks`.
    """
    leaked = report.leaked()
    if not leaked:
        return 'no pair repeats across the splits'
    return ('pairs that repeat an earlier split: ' + ', '.join(
        f'{split} {len(stems)} of {report.sizes[split]}'
        for split, stems in leaked.items()))
