"""Cut a bitemporal change-detection release into non-overlapping tiles.

Shared by ``tools/prepare_levircd.py`` and ``tools/prepare_dsifn.py``. The
output always has the LEVIR-CD layout ``OUT/{split}/{A,B,label}`` with tiles
named ``<stem>_<row>_<col>.png`` (row and column are tile indices); images
are written as PNG (lossless, same channels as the source) and labels as
single-channel 0/255 PNG, so the result loads with open-cd's
``LEVIR_CD_Dataset`` (``format_seg_map='to_binary'``).
"""
import argparse
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.utils import ProgressBar, mkdir_or_exist

from ftan_opencd.pixels import decode_file, load_label

OUT_DIRS = ('A', 'B', 'label')
Pair = Tuple[str, str, str, str]  # stem, image from, image to, label


class DatasetError(Exception):
    """The source data set is incomplete or inconsistent; the message names
    the offending files or splits."""


def _index(folder: str, suffixes: Sequence[str]) -> Dict[str, str]:
    """Map file stem -> path for the files of ``folder`` with a suffix.

    Args:
        folder (str): Directory to list.
        suffixes (Sequence[str]): Accepted suffixes, e.g. ``('.png',)``.

    Returns:
        dict[str, str]: Paths by stem.
    """
    if not osp.isdir(folder):
        raise DatasetError(f'{folder}: directory not found')
    index = {}
    for name in sorted(os.listdir(folder)):
        stem, suffix = osp.splitext(name)
        if suffix.lower() in suffixes:
            index.setdefault(stem, osp.join(folder, name))
    return index


def find_pairs(split_dir: str, dirs: Sequence[str],
               img_suffixes: Sequence[str],
               label_suffixes: Sequence[str]) -> List[Pair]:
    """List the (image from, image to, label) triplets of a split.

    Args:
        split_dir (str): Split directory of the release.
        dirs (Sequence[str]): Sub-directory names of the first image, the
            second image and the label, e.g. ``('t1', 't2', 'mask')``.
        img_suffixes (Sequence[str]): Accepted image suffixes.
        label_suffixes (Sequence[str]): Accepted label suffixes.

    Returns:
        list[tuple[str]]: ``(stem, from, to, label)`` sorted by stem.

    Raises:
        DatasetError: If a file has no counterpart in the other folders.
    """
    suffixes = (img_suffixes, img_suffixes, label_suffixes)
    indices = [
        _index(osp.join(split_dir, d), [s.lower() for s in sfx])
        for d, sfx in zip(dirs, suffixes)
    ]
    stems = set().union(*indices)
    problems = []
    for d, index in zip(dirs, indices):
        missing = sorted(stems - set(index))
        if missing:
            problems.append(f'{osp.join(split_dir, d)} lacks {len(missing)} '
                            f'file(s) present elsewhere: {missing[:5]}')
    if problems:
        raise DatasetError('; '.join(problems))
    return [(stem, *(index[stem] for index in indices))
            for stem in sorted(stems)]


def read_label(path: str, threshold: Optional[float] = None) -> np.ndarray:
    """Read a change mask as a single-channel 0/255 uint8 array, by the
    label rule of :mod:`ftan_opencd.pixels` (strict unless ``threshold``).

    Raises:
        DatasetError: Naming the file, its values and ``--label-threshold``.
    """
    try:
        return load_label(path, threshold) * np.uint8(255)
    except (ValueError, FileNotFoundError) as error:
        raise DatasetError(str(error).replace(
            'label_threshold', '--label-threshold')) from error


def _read(path: str) -> np.ndarray:
    """Decode an image file as stored (:func:`ftan_opencd.pixels.decode_file`),
    raising :class:`DatasetError` if unreadable."""
    try:
        return decode_file(path)
    except (ValueError, FileNotFoundError) as error:
        raise DatasetError(str(error)) from error


def iter_tiles(array: np.ndarray,
               tile: int) -> Iterator[Tuple[int, int, np.ndarray]]:
    """Yield the non-overlapping ``tile`` x ``tile`` tiles of an array.

    Args:
        array (np.ndarray): ``(H, W, ...)`` array; H and W multiples of tile.
        tile (int): Tile side.

    Yields:
        tuple: ``(row, col, tile_array)`` with tile indices row and col.
    """
    height, width = array.shape[:2]
    for row in range(height // tile):
        for col in range(width // tile):
            yield row, col, array[row * tile:(row + 1) * tile,
                                  col * tile:(col + 1) * tile]


def tile_split(split_dir: str, out_dir: str, dirs: Sequence[str],
               img_suffixes: Sequence[str], label_suffixes: Sequence[str],
               tile: int,
               label_threshold: Optional[float] = None) -> Tuple[int, int]:
    """Tile every triplet of one split into ``out_dir/{A,B,label}``.

    Args:
        split_dir (str): Split directory of the release.
        out_dir (str): Output split directory.
        dirs (Sequence[str]): Source sub-directories (from, to, label).
        img_suffixes (Sequence[str]): Accepted image suffixes.
        label_suffixes (Sequence[str]): Accepted label suffixes.
        tile (int): Tile side.
        label_threshold (float, optional): Binarise labels on purpose.

    Returns:
        tuple[int, int]: Numbers of source images and of tiles written.

    Raises:
        DatasetError: On missing counterparts, unreadable files, sizes that
            disagree between the three files or are not multiples of tile.
    """
    pairs = find_pairs(split_dir, dirs, img_suffixes, label_suffixes)
    outs = [osp.join(out_dir, d) for d in OUT_DIRS]
    for folder in outs:
        mkdir_or_exist(folder)
    num_tiles = 0
    progress = ProgressBar(len(pairs))
    for stem, *paths in pairs:
        arrays = [_read(paths[0]), _read(paths[1]),
                  read_label(paths[2], label_threshold)]
        sizes = [a.shape[:2] for a in arrays]
        if len(set(sizes)) != 1:
            raise DatasetError('sizes disagree: ' + ', '.join(
                f'{p} {s[1]}x{s[0]}' for p, s in zip(paths, sizes)))
        if sizes[0][0] % tile or sizes[0][1] % tile:
            raise DatasetError(f'{paths[0]}: size {sizes[0][1]}x'
                               f'{sizes[0][0]} is not a multiple of {tile}')
        for folder, array in zip(outs, arrays):
            for row, col, part in iter_tiles(array, tile):
                cv2.imwrite(osp.join(folder, f'{stem}_{row}_{col}.png'), part)
        num_tiles += (sizes[0][0] // tile) * (sizes[0][1] // tile)
        progress.update()
    print()
    return len(pairs), num_tiles


def count_problems(counts: Dict[str, int],
                   expected: Dict[str, int]) -> List[str]:
    """Describe the splits whose tile count differs from the expected one.

    Args:
        counts (dict[str, int]): Tiles written per split.
        expected (dict[str, int]): Expected tiles per split.

    Returns:
        list[str]: One message per mismatching split (empty if all agree).
    """
    return [
        f"split '{split}': {num} tiles, expected {expected[split]}"
        for split, num in counts.items()
        if split in expected and num != expected[split]
    ]


def prepare(src: str, out: str, splits: Sequence[str], dirs: Sequence[str],
            img_suffixes: Sequence[str], label_suffixes: Sequence[str],
            tile: int, expected: Optional[Dict[str, int]],
            label_threshold: Optional[float] = None) -> Dict[str, int]:
    """Tile the given splits of a release and check the tile counts.

    Args:
        src (str): Release root holding ``{split}/{dirs}``.
        out (str): Output root.
        splits (Sequence[str]): Splits to convert.
        dirs (Sequence[str]): Source sub-directories (from, to, label).
        img_suffixes (Sequence[str]): Accepted image suffixes.
        label_suffixes (Sequence[str]): Accepted label suffixes.
        tile (int): Tile side.
        expected (dict[str, int], optional): Expected tiles per split;
            None skips the check.
        label_threshold (float, optional): Binarise labels on purpose.

    Returns:
        dict[str, int]: Tiles written per split.

    Raises:
        DatasetError: On inconsistent input or, after all splits are
            written, on tile counts that differ from ``expected``.
    """
    counts = {}
    for split in splits:
        print(f'{split}:')
        images, counts[split] = tile_split(
            osp.join(src, split), osp.join(out, split), dirs, img_suffixes,
            label_suffixes, tile, label_threshold)
        print(f'{split}: {images} images -> {counts[split]} tiles '
              f'in {osp.join(out, split)}')
    problems = count_problems(counts, expected or {})
    if problems:
        raise DatasetError(
            'unexpected tile counts (incomplete or wrong release? use '
            '--no-check for a subset): ' + '; '.join(problems))
    return counts


def run_cli(description: str,
            dirs: Sequence[str],
            img_suffixes: Sequence[str],
            label_suffixes: Sequence[str],
            expected_images: Dict[str, int],
            image_size: int,
            argv: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Command line shared by the preparation tools.

    Args:
        description (str): Tool description for ``--help``.
        dirs (Sequence[str]): Default source sub-directories.
        img_suffixes (Sequence[str]): Default image suffixes.
        label_suffixes (Sequence[str]): Default label suffixes.
        expected_images (dict[str, int]): Official images per split.
        image_size (int): Official side of the square source images; the
            expected tiles per split are ``images * (image_size // tile)**2``.
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        dict[str, int]: Tiles written per split.

    Raises:
        SystemExit: With a message and status 1 on a :class:`DatasetError`.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='root of the release')
    parser.add_argument('out', help='output root')
    parser.add_argument('--tile-size', type=int, default=256)
    parser.add_argument('--splits', nargs='+', default=list(expected_images))
    parser.add_argument('--dirs', nargs=3, default=list(dirs),
                        metavar=('FROM', 'TO', 'LABEL'),
                        help='source sub-directories (default: %(default)s)')
    parser.add_argument('--img-suffix', nargs='+', default=list(img_suffixes),
                        help='image suffixes (default: %(default)s)')
    parser.add_argument('--label-suffix', nargs='+',
                        default=list(label_suffixes),
                        help='label suffixes (default: %(default)s)')
    parser.add_argument('--no-check', action='store_true',
                        help='do not compare the tile counts with the '
                        f'official release ({expected_images} images of '
                        f'{image_size}x{image_size}), e.g. for a subset')
    parser.add_argument(
        '--label-threshold', type=float, default=None,
        help='binarise labels on purpose: changed where the value (the '
        'brightest channel of a colour label) is >= this. Default: labels '
        'must hold only {0, 255} or {0, 1}')
    args = parser.parse_args(argv)
    per_image = (image_size // args.tile_size)**2
    expected = None if args.no_check else {
        split: num * per_image
        for split, num in expected_images.items()
    }
    try:
        counts = prepare(args.src, args.out, args.splits, args.dirs,
                         args.img_suffix, args.label_suffix, args.tile_size,
                         expected, args.label_threshold)
    except DatasetError as error:
        raise SystemExit(f'error: {error}')
    print('summary: ' + ', '.join(f'{s} {n}' for s, n in counts.items()) +
          ' tiles' + (' (not checked)' if args.no_check else
                      ' (as expected)'))
    return counts
