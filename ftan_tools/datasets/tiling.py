"""Cut a bitemporal change-detection data set into tiles (LEVIR-CD layout).

Shared by ``tools/tile_dataset.py`` (any data set) and its presets
``tools/prepare_levircd.py`` and ``tools/prepare_dsifn.py``. The source
holds ``SRC/{split}/{FROM,TO,LABEL}`` with the same file stem in the three
folders; the output always has the LEVIR-CD layout ``OUT/{split}/{A,B,label}``
and loads with open-cd's ``LEVIR_CD_Dataset`` and the project's
``CheckedCDDataset``.

Rules:

* **Windows.** ``tile`` x ``tile`` windows every ``stride`` pixels (default:
  ``stride = tile``, no overlap); the last window of each row and column is
  shifted to end flush with the border, exactly as the sliding-window
  prediction places its windows
  (:func:`ftan_opencd.apis.sliding_window.window_starts`), so any image size
  is covered. An image smaller than the tile on one side is refused: its
  tile would be smaller than the others and break batching.
* **Names.** ``<stem>_y<top>_x<left>.png``: the pixel offset of the tile's
  top-left corner in the source image.
* **Pixels.** Images are decoded by the project's rule 1
  (:mod:`ftan_opencd.pixels`: OpenCV, GeoTIFFs with rasterio) and written
  losslessly: PNG (same channels and 8/16-bit depth) where PNG can hold
  them, otherwise a GeoTIFF ``.tif`` with the source's bands, pixel type,
  colour interpretation and georeferencing (a raster with other than 1 or 3
  bands, or a pixel type other than uint8/uint16). Labels follow the
  project's label rule (strict ``{0, 255}``/``{0, 1}`` unless
  ``--label-threshold``) and are written as single-channel 0/255 PNG.
* **Leak check** (on by default, ``--no-leak-check`` skips it). Before
  tiling, every pair of every split is read once and compared by content
  with the other splits (:mod:`ftan_tools.datasets.leaks`: SHA-1 of both
  dates' decoded pixels, shape and dtype; names are ignored). The report
  gives, per split pair, how many pairs repeat and a few names, and the
  pairs that share only one date. ``--drop-leaks`` tiles val without the
  pairs also in train, and test without those also in train or val.
  :func:`check_root_leaks` runs the same check on an already prepared
  LEVIR-layout root (``tools/check_leaks.py``).
* **Nothing silently wrong.** The arguments, the output location (never in
  the source) and the file lists are checked before anything is written;
  each pair is checked (sizes, label values, formats) before its tiles are
  written; every file is written under a temporary name and renamed on
  success, so an interrupted run leaves no truncated file.
"""
import argparse
import math
import os
import os.path as osp
import warnings
from typing import (Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple)

import cv2
import numpy as np
from mmengine.utils import ProgressBar

from ftan_opencd.apis.sliding_window import window_starts
from ftan_opencd.errors import UserError
from ftan_opencd.pixels import (check_same_format, decode_file,
                                import_rasterio, is_raster_path, load_label,
                                raster_bands)
from .leaks import (LeakReport, drop_leaks, find_leaks, leak_summary,
                    report_lines)

OUT_DIRS = ('A', 'B', 'label')
SPLITS = ('train', 'val', 'test')
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
LABEL_SUFFIXES = ('.png', '.bmp', '.tif', '.tiff')
PNG_DTYPES = (np.uint8, np.uint16)
MAX_LISTED = 5
Pair = Tuple[str, str, str, str]  # stem, image from, image to, label


class DatasetError(UserError):
    """The source data set or the output location is unusable; the message
    names the offending files, splits or options (a user error: the tools
    report it as one ``error: ...`` line).

    Attributes:
        tiles_written (int): Tiles of the current split written before the
            error (set by :func:`tile_split`).
    """
    tiles_written = 0


class Release(NamedTuple):
    """An official release, for ``--check-release``.

    Attributes:
        name (str): Release name for messages, e.g. ``'LEVIR-CD'``.
        images (dict[str, int]): Image pairs per split.
        image_size (int): Side of the square source images.
    """
    name: str
    images: Dict[str, int]
    image_size: int

    def tiles_per_image(self, tile: int, stride: int) -> int:
        """Tiles cut from one official image."""
        return len(window_starts(self.image_size, tile, stride))**2


class Raster(NamedTuple):
    """What a GeoTIFF tile keeps of its source raster.

    Attributes:
        crs: Coordinate reference system (None if not georeferenced).
        transform: Affine geotransform of the source.
        colorinterp (tuple): Colour interpretation per band, in file order.
        nodata (float, optional): No-data value.
    """
    crs: object
    transform: object
    colorinterp: tuple
    nodata: Optional[float]


class Image(NamedTuple):
    """A decoded source image.

    Attributes:
        path (str): Source file.
        pixels (np.ndarray): HxW or HxWxC as decoded by rule 1.
        raster (Raster, optional): Set when read with rasterio.
    """
    path: str
    pixels: np.ndarray
    raster: Optional[Raster]


# ------------------------------------------------------------------ options
def positive_int(text: str) -> int:
    """argparse type: an integer >= 1.

    Args:
        text (str): Command-line value.

    Raises:
        argparse.ArgumentTypeError: If not a positive integer.
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'must be a positive integer (pixels), got {text!r}')
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0.

    Args:
        text (str): Command-line value.

    Raises:
        argparse.ArgumentTypeError: If not a positive finite number.
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f'must be a positive number, got {text!r}')
    return value


def _inside(path: str, root: str) -> bool:
    """True if ``path`` is ``root`` or lies inside it (symlinks resolved)."""
    path, root = osp.realpath(path), osp.realpath(root)
    return osp.commonpath([path, root]) == root


def check_locations(src: str, out: str, splits: Sequence[str]) -> None:
    """Refuse a missing source and an output in the source release.

    Args:
        src (str): Source root.
        out (str): Output root.
        splits (Sequence[str]): Splits to write under ``out``.

    Raises:
        DatasetError: If ``src`` is not a folder, or ``out`` (or one of its
            split folders) is ``src`` or lies inside it: the tiles would be
            mixed into the release.
    """
    if not osp.isdir(src):
        raise DatasetError(f'source folder not found: {src}')
    targets = [out] + [osp.join(out, split) for split in splits]
    for target in targets:
        if _inside(target, src):
            where = 'is' if _inside(src, target) else 'lies inside'
            raise DatasetError(
                f'the output folder {target} {where} the source {src}: the '
                'tiles would be mixed into the release; choose an output '
                'folder outside it')


# ------------------------------------------------------------------ listing
def _index(folder: str, suffixes: Sequence[str]) -> Dict[str, str]:
    """Map file stem -> path for the files of ``folder`` with a suffix.

    A directory whose name has an accepted suffix (``A/extra.png/``) is
    skipped with a printed warning naming it, as the training data sets
    skip directories when they list a folder.

    Args:
        folder (str): Directory to list.
        suffixes (Sequence[str]): Accepted suffixes (lower case).

    Returns:
        dict[str, str]: Paths by stem.

    Raises:
        DatasetError: If the folder is missing or two files share a stem.
    """
    if not osp.isdir(folder):
        raise DatasetError(f'directory not found: {folder} (choose the '
                           'folders with --dirs)')
    index, clashes = {}, []
    for name in sorted(os.listdir(folder)):
        stem, suffix = osp.splitext(name)
        if suffix.lower() not in suffixes:
            continue
        if osp.isdir(osp.join(folder, name)):
            print(f'warning: skipped {osp.join(folder, name)}: a directory, '
                  'not an image file (training skips it too)')
            continue
        if stem in index:
            clashes.append(f'{osp.basename(index[stem])} and {name}')
        index.setdefault(stem, osp.join(folder, name))
    if clashes:
        raise DatasetError(f'{folder} holds several files with one stem: '
                           f'{clashes[:MAX_LISTED]}; keep one of each')
    return index


def find_pairs(split_dir: str, dirs: Sequence[str],
               img_suffixes: Sequence[str],
               label_suffixes: Sequence[str]) -> List[Pair]:
    """List the (image from, image to, label) triplets of a split.

    Args:
        split_dir (str): Split directory of the source.
        dirs (Sequence[str]): Sub-directory names of the first image, the
            second image and the label, e.g. ``('t1', 't2', 'mask')``.
        img_suffixes (Sequence[str]): Accepted image suffixes.
        label_suffixes (Sequence[str]): Accepted label suffixes.

    Returns:
        list[tuple[str]]: ``(stem, from, to, label)`` sorted by stem.

    Raises:
        DatasetError: If a folder is missing, a file has no counterpart in
            the other folders or the split holds no pair at all.
    """
    if not osp.isdir(split_dir):
        raise DatasetError(f'split folder not found: {split_dir} (choose '
                           'the splits with --splits)')
    suffixes = [[s.lower() for s in sfx]
                for sfx in (img_suffixes, img_suffixes, label_suffixes)]
    indices = [
        _index(osp.join(split_dir, d), sfx) for d, sfx in zip(dirs, suffixes)
    ]
    stems = set().union(*indices)
    if not stems:
        raise DatasetError(
            f'no files in {split_dir}/{{{",".join(dirs)}}} with the suffixes '
            f'{list(img_suffixes)} (images) / {list(label_suffixes)} '
            '(labels); see --img-suffix / --label-suffix')
    problems = []
    for d, sfx, index in zip(dirs, suffixes, indices):
        missing = sorted(stems - set(index))
        if missing:
            problems.append(
                f'{osp.join(split_dir, d)} lacks {len(missing)} file(s) '
                f'present elsewhere (looked for {", ".join(sfx)}): '
                f'{missing[:MAX_LISTED]}')
    if problems:
        raise DatasetError('; '.join(problems))
    return [(stem, *(index[stem] for index in indices))
            for stem in sorted(stems)]


def check_release_counts(pairs: Dict[str, List[Pair]], release: Release,
                         tile: int, stride: int) -> None:
    """Compare the number of pairs per split with the official release.

    Args:
        pairs (dict[str, list]): Pairs per split.
        release (Release): The official release.
        tile (int): Tile side.
        stride (int): Step between tiles.

    Raises:
        DatasetError: Naming every split that differs.
    """
    problems = []
    for split, listed in pairs.items():
        if split not in release.images:
            problems.append(f"split '{split}' is not in the official release "
                            f'({", ".join(release.images)})')
        elif len(listed) != release.images[split]:
            num = release.images[split]
            problems.append(
                f"split '{split}' has {len(listed)} image pair(s), the "
                f'official release has {num} ('
                f'{num * release.tiles_per_image(tile, stride)} tiles)')
    if problems:
        raise DatasetError(
            f'--check-release ({release.name}): ' + '; '.join(problems) +
            ' (leave out --check-release to tile a subset)')


# ------------------------------------------------------------------ reading
def read_label(path: str, threshold: Optional[float] = None) -> np.ndarray:
    """Read a change mask as a single-channel 0/255 uint8 array, by the
    label rule of :mod:`ftan_opencd.pixels` (strict unless ``threshold``).

    Args:
        path (str): Label file.
        threshold (float, optional): Binarise on purpose.

    Raises:
        DatasetError: Naming the file, its values and ``--label-threshold``.
    """
    try:
        return load_label(path, threshold) * np.uint8(255)
    except (ValueError, FileNotFoundError) as error:
        message = str(error).replace('; --label-threshold on the tools', '')
        raise DatasetError(message.replace('label_threshold',
                                           '--label-threshold')) from error


def _rasterio_or_none():
    """rasterio, or None where it is not installed."""
    try:
        return import_rasterio()
    except ImportError:
        return None


def _read_raster(path: str, rasterio) -> Image:
    """Read every band of a GeoTIFF as :func:`ftan_opencd.pixels.decode`
    does (file order; 3 bands as B, G, R) with the metadata to keep."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore',
                                  rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path) as dataset:
                indexes, _ = raster_bands(dataset, dataset.count, path)
                pixels = np.moveaxis(dataset.read(indexes), 0, -1)
                raster = Raster(dataset.crs, dataset.transform,
                                tuple(dataset.colorinterp), dataset.nodata)
    except (rasterio.errors.RasterioError, OSError) as error:
        raise DatasetError(f'cannot read {path} as a raster: {error}')
    return Image(path, pixels[..., 0] if pixels.shape[2] == 1 else pixels,
                 raster)


def read_image(path: str) -> Image:
    """Decode an image file by rule 1 of :mod:`ftan_opencd.pixels`.

    Args:
        path (str): Image file (PNG, JPEG, BMP, TIFF, ...).

    Returns:
        Image: Pixels as stored, with raster metadata for GeoTIFFs.

    Raises:
        DatasetError: If the file is missing or cannot be decoded.
    """
    rasterio = _rasterio_or_none() if is_raster_path(path) else None
    if rasterio is not None:
        return _read_raster(path, rasterio)
    try:
        return Image(path, decode_file(path), None)
    except (ValueError, FileNotFoundError) as error:
        raise DatasetError(str(error)) from error


def _size(array: np.ndarray) -> str:
    """``'WxH'`` of an array."""
    return f'{array.shape[1]}x{array.shape[0]}'


def check_pair(images: Sequence[Image], label: np.ndarray, label_path: str,
               tile: int, release: Optional[Release]) -> None:
    """Refuse a pair whose files disagree or cannot be tiled.

    Args:
        images (Sequence[Image]): Both dates.
        label (np.ndarray): The label.
        label_path (str): Label file for messages.
        tile (int): Tile side.
        release (Release, optional): Official release whose image size is
            required (``--check-release``).

    Raises:
        DatasetError: On sizes that disagree (naming the three files), dates
            of different formats, an image smaller than the tile or, with
            ``release``, not of the official size.
    """
    arrays = [image.pixels for image in images] + [label]
    paths = [image.path for image in images] + [label_path]
    if len({a.shape[:2] for a in arrays}) != 1:
        raise DatasetError('sizes disagree (width x height): ' + ', '.join(
            f'{p} {_size(a)}' for p, a in zip(paths, arrays)))
    try:
        check_same_format(arrays[:2], paths[:2])
    except ValueError as error:
        raise DatasetError(str(error)) from error
    height, width = label.shape[:2]
    if min(height, width) < tile:
        raise DatasetError(
            f'{paths[0]} is {width}x{height}, smaller than the {tile}x{tile} '
            'tiles on at least one side; use a --tile-size of at most '
            f'{min(height, width)} (or pad the image)')
    size = release.image_size if release else None
    if release and (height, width) != (size, size):
        raise DatasetError(
            f'{paths[0]} is {width}x{height}, the official {release.name} '
            f'images are {size}x{size} (--check-release)')


# ------------------------------------------------------------------ tiles
def tile_offsets(height: int, width: int, tile: int,
                 stride: int) -> List[Tuple[int, int]]:
    """Top-left corners of the tiles of an image, row by row.

    Windows every ``stride`` pixels, the last one flush with the border
    (:func:`ftan_opencd.apis.sliding_window.window_starts`).

    Args:
        height (int): Image height (``>= tile``).
        width (int): Image width (``>= tile``).
        tile (int): Tile side.
        stride (int): Step between tiles, ``1 <= stride <= tile``.

    Returns:
        list[tuple[int, int]]: ``(top, left)`` offsets.
    """
    return [(top, left) for top in window_starts(height, tile, stride)
            for left in window_starts(width, tile, stride)]


def tile_name(stem: str, top: int, left: int, suffix: str = '.png') -> str:
    """File name of a tile: ``<stem>_y<top>_x<left><suffix>``."""
    return f'{stem}_y{top}_x{left}{suffix}'


# ------------------------------------------------------------------ writing
def output_suffix(image: Image) -> str:
    """``'.png'`` where PNG holds the image losslessly, else ``'.tif'``.

    PNG holds uint8/uint16 with 1 or 3 channels, and 4 channels of a
    PNG/JPEG/BMP source (B, G, R, alpha by format). A raster of 4 bands
    keeps its own band meaning in a GeoTIFF.

    Args:
        image (Image): Decoded source image.

    Raises:
        DatasetError: If a GeoTIFF is needed and rasterio is missing.
    """
    pixels = image.pixels
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    png_channels = (1, 3) if image.raster else (1, 3, 4)
    if pixels.dtype in PNG_DTYPES and channels in png_channels:
        return '.png'
    if image.raster is None:
        raise DatasetError(
            f'{image.path}: {channels} channel(s) of {pixels.dtype} cannot '
            'be stored losslessly as PNG and GeoTIFF tiles need rasterio, '
            'which is not installed: pip install rasterio')
    return '.tif'


def write_atomic(path: str, write: Callable[[str], None]) -> None:
    """Write a file under a temporary name in its folder, then rename it.

    Args:
        path (str): Final file.
        write (Callable[[str], None]): Writes the content to the given path.

    Raises:
        DatasetError: If the file cannot be written (naming it).
    """
    folder, name = osp.split(path)
    tmp = osp.join(folder, f'.{name}.{os.getpid()}.tmp')
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as error:
        raise DatasetError(f'cannot write {path}: {error}') from error
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def write_png(path: str, array: np.ndarray) -> None:
    """Encode an array as PNG (OpenCV, B, G, R[, A] order) into ``path``."""
    ok, data = cv2.imencode('.png', array)
    if not ok:
        raise OSError(f'OpenCV cannot encode a {array.shape} {array.dtype} '
                      'array as PNG')
    with open(path, 'wb') as f:
        f.write(data.tobytes())


def _shifted(transform, top: int, left: int):
    """Geotransform of the window whose corner is pixel (top, left)."""
    t = transform
    return type(t)(t.a, t.b, t.c + t.a * left + t.b * top, t.d, t.e,
                   t.f + t.d * left + t.e * top)


def write_geotiff(path: str, array: np.ndarray, raster: Raster, top: int,
                  left: int) -> None:
    """Write a tile as a GeoTIFF with the source's bands and metadata.

    Args:
        path (str): Output file (any name; the driver is GTiff).
        array (np.ndarray): HxW or HxWxC tile as read by :func:`read_image`.
        raster (Raster): Metadata of the source raster.
        top (int): Row offset of the tile in the source.
        left (int): Column offset of the tile in the source.
    """
    rasterio = import_rasterio()
    bands = array[..., None] if array.ndim == 2 else array
    if bands.shape[2] == 3:
        bands = bands[..., ::-1]  # back to file order (read as B, G, R)
    height, width, count = bands.shape
    profile = dict(driver='GTiff', height=height, width=width, count=count,
                   dtype=str(bands.dtype), compress='deflate',
                   nodata=raster.nodata)
    if raster.crs is not None or not raster.transform.is_identity:
        profile.update(crs=raster.crs,
                       transform=_shifted(raster.transform, top, left))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore',
                                  rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path, 'w', **profile) as dst:
                dst.write(np.moveaxis(bands, -1, 0))
                dst.colorinterp = raster.colorinterp
    except rasterio.errors.RasterioError as error:
        raise OSError(str(error)) from error


class SplitResult(NamedTuple):
    """What was written for one split.

    Attributes:
        pairs (int): Source pairs tiled.
        tiles (int): Tiles per output folder (A, B and label alike).
        suffixes (tuple[str, str]): Suffixes of the image and label tiles.
        stale (dict[str, int]): Files already in an output folder that this
            run did not write, per folder.
        dropped (int): Source pairs left out by ``--drop-leaks``.
    """
    pairs: int
    tiles: int
    suffixes: Tuple[str, str]
    stale: Dict[str, int]
    dropped: int = 0


def _listing(folder: str) -> set:
    """Names of the files in ``folder`` (empty if it does not exist)."""
    return set(os.listdir(folder)) if osp.isdir(folder) else set()


def pair_suffix(images: Sequence[Image]) -> str:
    """The tile suffix of both dates (:func:`output_suffix`).

    Raises:
        DatasetError: If the two dates would get different formats.
    """
    suffixes = [output_suffix(image) for image in images]
    if suffixes[0] != suffixes[1]:
        raise DatasetError(
            f'{images[0].path} gives {suffixes[0]} tiles but '
            f'{images[1].path} gives {suffixes[1]} tiles; store both dates '
            'in one format')
    return suffixes[0]


def write_pair_tiles(stem: str, images: Sequence[Image], label: np.ndarray,
                     outs: Sequence[str], tile: int, stride: int,
                     suffix: str) -> List[str]:
    """Write the A, B and label tiles of one checked pair.

    Args:
        stem (str): Source file stem.
        images (Sequence[Image]): Both dates.
        label (np.ndarray): 0/255 label.
        outs (Sequence[str]): Output folders for A, B and label.
        tile (int): Tile side.
        stride (int): Step between tiles.
        suffix (str): Image tile suffix (:func:`pair_suffix`).

    Returns:
        list[str]: Tile names written, without suffix.
    """
    names = []
    for top, left in tile_offsets(*label.shape, tile, stride):
        window = (slice(top, top + tile), slice(left, left + tile))
        for image, out in zip(images, outs):
            path = osp.join(out, tile_name(stem, top, left, suffix))
            part = image.pixels[window]
            if suffix == '.png':
                write_atomic(path, lambda tmp: write_png(tmp, part))
            else:
                write_atomic(path, lambda tmp: write_geotiff(
                    tmp, part, image.raster, top, left))
        name = tile_name(stem, top, left)
        write_atomic(osp.join(outs[2], name),
                     lambda tmp: write_png(tmp, label[window]))
        names.append(name[:-len('.png')])
    return names


def load_pair(paths: Sequence[str], tile: int,
              label_threshold: Optional[float] = None,
              release: Optional[Release] = None
              ) -> Tuple[List[Image], np.ndarray, str]:
    """Read and check one pair before any of its tiles is written.

    Args:
        paths (Sequence[str]): Image from, image to, label.
        tile (int): Tile side.
        label_threshold (float, optional): Binarise the label on purpose.
        release (Release, optional): Require the official image size.

    Returns:
        tuple: Both images, the 0/255 label and the image tile suffix.

    Raises:
        DatasetError: See :func:`check_pair` and :func:`read_label`.
    """
    images = [read_image(paths[0]), read_image(paths[1])]
    label = read_label(paths[2], label_threshold)
    check_pair(images, label, paths[2], tile, release)
    return images, label, pair_suffix(images)


def _stale_files(outs: Sequence[str], before: Sequence[set],
                 written: Sequence[str],
                 suffixes: Sequence[str]) -> Dict[str, int]:
    """Count the files of each output folder this run did not write.

    Args:
        outs (Sequence[str]): Output folders (A, B, label).
        before (Sequence[set]): Their file names before the run.
        written (Sequence[str]): Tile names written, without suffix.
        suffixes (Sequence[str]): Suffix per folder.

    Returns:
        dict[str, int]: Number of other files per folder (if any).
    """
    stale = {}
    for folder, names, suffix in zip(outs, before, suffixes):
        left_over = names - {name + suffix for name in written}
        if left_over:
            stale[folder] = len(left_over)
    return stale


def tile_split(pairs: Sequence[Pair], out_dir: str, tile: int, stride: int,
               label_threshold: Optional[float] = None,
               release: Optional[Release] = None) -> SplitResult:
    """Tile the listed pairs of one split into ``out_dir/{A,B,label}``.

    Each pair is read and checked completely before its tiles are written.

    Args:
        pairs (Sequence[Pair]): From :func:`find_pairs`.
        out_dir (str): Output split directory.
        tile (int): Tile side.
        stride (int): Step between tiles.
        label_threshold (float, optional): Binarise labels on purpose.
        release (Release, optional): Require the official image size.

    Returns:
        SplitResult: What was written.

    Raises:
        DatasetError: On unreadable files, labels breaking the label rule,
            pairs that disagree or cannot be tiled, a split whose images
            would be written in two formats, a file that cannot be written;
            ``tiles_written`` says how many tiles were written before.
    """
    outs = [osp.join(out_dir, d) for d in OUT_DIRS]
    before = [_listing(folder) for folder in outs]
    written, suffixes = [], []
    progress = ProgressBar(len(pairs))
    for stem, *paths in pairs:
        try:
            images, label, suffix = load_pair(paths, tile, label_threshold,
                                              release)
            if suffixes and suffix != suffixes[0]:
                raise DatasetError(
                    f'{paths[0]} gives {suffix} tiles but earlier images of '
                    f'this split gave {suffixes[0]} tiles; a data set reads '
                    'one image suffix: convert the images to one format')
            suffixes.append(suffix)
            for folder in outs:
                os.makedirs(folder, exist_ok=True)
            written += write_pair_tiles(stem, images, label, outs, tile,
                                        stride, suffix)
        except DatasetError as error:
            error.tiles_written = len(written)
            raise
        progress.update()
    print()
    stale = _stale_files(outs, before, written,
                         (suffixes[0], suffixes[0], '.png'))
    return SplitResult(len(pairs), len(written), (suffixes[0], '.png'),
                       stale)


# --------------------------------------------------------------- leak check
def _pixels(path: str) -> np.ndarray:
    """The pixels of an image as :func:`read_image` decodes them."""
    return read_image(path).pixels


def check_leaks(pairs: Dict[str, List[Pair]], drop: bool = False
                ) -> Tuple[Dict[str, List[Pair]], Dict[str, int]]:
    """Compare the splits by content, print the report, maybe drop leaks.

    Every image of every split is read once more (before tiling), with the
    same decoding as the tiles (:func:`read_image`).

    Args:
        pairs (dict[str, list[Pair]]): Pairs per split (:func:`find_pairs`).
        drop (bool): Remove from val the pairs also in train, and from test
            those also in train or val (``--drop-leaks``).

    Returns:
        tuple: The pairs to tile per split, and the number dropped per split
        (all 0 unless ``drop``).

    Raises:
        DatasetError: On an unreadable image, or when dropping would empty
            a split.
    """
    unchanged = {split: 0 for split in pairs}
    if len(pairs) < 2:
        print(f'leak check: one split only ({", ".join(pairs)}), nothing to '
              'compare')
        return pairs, unchanged
    total = sum(map(len, pairs.values()))
    print(f'leak check: reading the {total} pairs of {", ".join(pairs)} '
          'once to compare their content across splits (--no-leak-check '
          'skips this)')
    report = find_leaks(pairs, read=_pixels)
    for line in report_lines(report):
        print(line)
    if not report.has_leaks:
        print(f'leak check: {leak_summary(report)}')
        return pairs, unchanged
    if not drop:
        print(f'warning: {leak_summary(report)}: metrics on those splits '
              'are optimistic; --drop-leaks tiles the splits without them')
        return pairs, unchanged
    kept, dropped = drop_leaks(pairs, report)
    emptied = [split for split, listed in kept.items() if not listed]
    if emptied:
        raise DatasetError(f'--drop-leaks would leave no pair in {emptied}: '
                           'every pair there repeats an earlier split')
    print('--drop-leaks: dropped ' + ', '.join(
        f'{n} of {len(pairs[split])} {split} pair(s)'
        for split, n in dropped.items() if n) +
        '; the splits written share no pair')
    return kept, dropped


def check_root_leaks(root: str, splits: Optional[Sequence[str]] = None,
                     dirs: Sequence[str] = OUT_DIRS,
                     img_suffixes: Sequence[str] = IMAGE_SUFFIXES,
                     label_suffixes: Sequence[str] = LABEL_SUFFIXES,
                     progress: bool = True) -> LeakReport:
    """Compare the splits of a prepared data set (LEVIR-CD layout).

    Args:
        root (str): Root holding ``{split}/{A,B,label}`` (or ``dirs``).
        splits (Sequence[str], optional): Splits to compare; default: those
            of train, val and test that exist under ``root``.
        dirs (Sequence[str]): Sub-directories of date 1, date 2, label.
        img_suffixes (Sequence[str]): Accepted image suffixes.
        label_suffixes (Sequence[str]): Accepted label suffixes.
        progress (bool): Show a progress bar.

    Returns:
        LeakReport: See :mod:`ftan_tools.datasets.leaks`.

    Raises:
        DatasetError: If ``root`` is missing, fewer than two splits are
            found, or a split is inconsistent (:func:`find_pairs`).
    """
    if not osp.isdir(root):
        raise DatasetError(f'data root not found: {root}')
    if splits is None:
        splits = [s for s in SPLITS if osp.isdir(osp.join(root, s))]
    if len(splits) < 2:
        raise DatasetError(f'{root}: need two splits to compare, found '
                           f'{list(splits)} (choose them with --splits)')
    pairs = {split: find_pairs(osp.join(root, split), dirs, img_suffixes,
                               label_suffixes)
             for split in splits}
    return find_leaks(pairs, read=_pixels, progress=progress)


# ------------------------------------------------------------------ driver
def prepare(src: str, out: str, splits: Sequence[str], dirs: Sequence[str],
            img_suffixes: Sequence[str], label_suffixes: Sequence[str],
            tile: int, stride: Optional[int] = None,
            label_threshold: Optional[float] = None,
            release: Optional[Release] = None,
            leak_check: bool = True,
            drop: bool = False) -> Dict[str, SplitResult]:
    """Check the source and tile the given splits.

    The output location, the file lists, (with ``release``) the number of
    pairs per split and (with ``leak_check``) the pairs repeated across
    splits are checked before anything is written.

    Args:
        src (str): Source root holding ``{split}/{dirs}``.
        out (str): Output root (outside ``src``).
        splits (Sequence[str]): Splits to tile.
        dirs (Sequence[str]): Source sub-directories (from, to, label).
        img_suffixes (Sequence[str]): Accepted image suffixes.
        label_suffixes (Sequence[str]): Accepted label suffixes.
        tile (int): Tile side (``>= 1``).
        stride (int, optional): Step between tiles, ``1 <= stride <= tile``;
            None means ``tile`` (no overlap).
        label_threshold (float, optional): Binarise labels on purpose.
        release (Release, optional): Check pair counts and image sizes
            against this official release.
        leak_check (bool): Compare the splits by content first and print
            the report (:func:`check_leaks`; reads every image once more).
        drop (bool): With ``leak_check``, leave out of val the pairs also
            in train, and out of test those also in train or val.

    Returns:
        dict[str, SplitResult]: What was written per split.

    Raises:
        DatasetError: On a bad location, tile size or stride, or an
            inconsistent source (see :func:`tile_split`).
    """
    stride = tile if stride is None else stride
    if not 1 <= stride <= tile:
        raise DatasetError(f'need 1 <= stride <= tile size, got tile size '
                           f'{tile}, stride {stride}')
    check_locations(src, out, splits)
    pairs = {
        split: find_pairs(osp.join(src, split), dirs, img_suffixes,
                          label_suffixes)
        for split in splits
    }
    if release:
        check_release_counts(pairs, release, tile, stride)
    if drop and not leak_check:
        raise DatasetError('dropping leaks needs the leak check')
    dropped = {split: 0 for split in pairs}
    if leak_check:
        pairs, dropped = check_leaks(pairs, drop)
    results = {}
    for split, listed in pairs.items():
        print(f'{split}: {len(listed)} pairs')
        try:
            results[split] = tile_split(
                listed, osp.join(out, split), tile, stride, label_threshold,
                release)._replace(dropped=dropped[split])
        except DatasetError as error:
            done = _written_so_far(results, split, error.tiles_written, out)
            raise DatasetError(f'{error} [{done}]') from error
    return results


def _written_so_far(results: Dict[str, SplitResult], split: str,
                    tiles: int, out: str) -> str:
    """Say what a run that stopped in ``split`` has written."""
    done = [f'{s} {r.tiles}' for s, r in results.items()]
    if tiles:
        done.append(f'{split} {tiles} (incomplete)')
    if not done:
        return 'stopped before writing any tile'
    return (f'stopped in split {split!r}; the tiles already written stay in '
            f'{out}: ' + ', '.join(done))


def summary_lines(results: Dict[str, SplitResult], out: str, tile: int,
                  stride: int, release: Optional[Release],
                  checked: bool) -> List[str]:
    """Describe exactly what was written.

    Args:
        results (dict[str, SplitResult]): From :func:`prepare`.
        out (str): Output root.
        tile (int): Tile side.
        stride (int): Step between tiles.
        release (Release, optional): The preset's official release.
        checked (bool): The counts were checked against ``release``.

    Returns:
        list[str]: Lines to print.
    """
    lines = []
    for split, res in results.items():
        left_out = f' ({res.dropped} dropped by --drop-leaks)' \
            if res.dropped else ''
        lines.append(
            f'{split}: {res.pairs} pairs{left_out} -> {res.tiles} tiles, '
            'written to '
            f'{osp.join(out, split)}/{{A,B}} as {res.suffixes[0]} and '
            f'{osp.join(out, split)}/label as 0/255 {res.suffixes[1]}')
        lines += [
            f'warning: {folder} also holds {num} file(s) this run did not '
            'write (from an earlier run?); remove them or use a new output '
            'folder' for folder, num in res.stale.items()
        ]
    files = 3 * sum(res.tiles for res in results.values())
    line = ('summary: ' +
            ', '.join(f'{s} {r.tiles}' for s, r in results.items()) +
            f' tiles of {tile}x{tile} at stride {stride} ({files} files: '
            f'A, B, label) in {out}')
    if release and checked:
        line += f'; pairs and image sizes as in the official {release.name} '\
            'release'
        if any(res.dropped for res in results.values()):
            line += ' before --drop-leaks'
    elif release:
        line += (f'; not compared with the official {release.name} release '
                 '(--check-release)')
    lines.append(line)
    if any(r.suffixes[0] == '.tif' for r in results.values()):
        lines.append("note: images were written as GeoTIFF: set "
                     "img_suffix='.tif' in the data set config")
    return lines


def build_parser(description: str, dirs: Sequence[str],
                 img_suffixes: Sequence[str], label_suffixes: Sequence[str],
                 release: Optional[Release]) -> argparse.ArgumentParser:
    """The command line of the tiling tools.

    Args:
        description (str): Tool description for ``--help``.
        dirs (Sequence[str]): Default source sub-directories.
        img_suffixes (Sequence[str]): Default image suffixes.
        label_suffixes (Sequence[str]): Default label suffixes.
        release (Release, optional): Adds ``--check-release`` for this
            release.

    Returns:
        argparse.ArgumentParser: The parser.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='root of the source data set')
    parser.add_argument('out', help='output root (outside src)')
    parser.add_argument('--splits', nargs='+',
                        default=list(release.images if release else SPLITS),
                        help='split folders to tile (default: %(default)s)')
    parser.add_argument('--dirs', nargs=3, default=list(dirs),
                        metavar=('FROM', 'TO', 'LABEL'),
                        help='source sub-directories (default: %(default)s)')
    parser.add_argument('--tile-size', type=positive_int, default=256,
                        help='tile side in pixels (default: %(default)s)')
    parser.add_argument('--stride', type=positive_int, default=None,
                        help='step between tiles, at most the tile size '
                        '(default: the tile size, no overlap); the last '
                        'tile of a row or column ends at the border')
    parser.add_argument('--img-suffix', nargs='+', default=list(img_suffixes),
                        help='image suffixes (default: %(default)s)')
    parser.add_argument('--label-suffix', nargs='+',
                        default=list(label_suffixes),
                        help='label suffixes (default: %(default)s)')
    parser.add_argument(
        '--label-threshold', type=positive_float, default=None,
        help='binarise labels on purpose: changed where the value (the '
        'brightest channel of a colour label) is >= this. Default: labels '
        'must hold only {0, 255} or {0, 1}')
    if release:
        parser.add_argument(
            '--check-release', action='store_true',
            help=f'check the official {release.name} release: '
            f'{release.images} image pairs of {release.image_size}x'
            f'{release.image_size}, before and while tiling')
    add_leak_arguments(parser)
    return parser


def add_leak_arguments(parser: argparse.ArgumentParser) -> None:
    """``--no-leak-check`` and ``--drop-leaks`` (mutually exclusive).

    Args:
        parser (argparse.ArgumentParser): The tiling tools' parser.
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--no-leak-check', dest='leak_check', action='store_false',
        help='skip the leak check. By default every pair of every split is '
        'read once before tiling and compared by content (both dates\' '
        'decoded pixels) with the other splits; pairs that repeat are '
        'reported per split pair with a few names')
    group.add_argument(
        '--drop-leaks', action='store_true',
        help='write a leak-free split: leave out of val every pair also in '
        'train, and out of test every pair also in train or val (train is '
        'never changed); the run says how many were dropped')


def run_cli(description: str,
            dirs: Sequence[str],
            img_suffixes: Sequence[str],
            label_suffixes: Sequence[str],
            release: Optional[Release] = None,
            argv: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Command line shared by the tiling tools.

    Args:
        description (str): Tool description for ``--help``.
        dirs (Sequence[str]): Default source sub-directories.
        img_suffixes (Sequence[str]): Default image suffixes.
        label_suffixes (Sequence[str]): Default label suffixes.
        release (Release, optional): Official release of a preset; enables
            ``--check-release``.
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        dict[str, int]: Tiles written per split.

    Raises:
        SystemExit: Status 2 with argparse's message on bad options.
        DatasetError: On an unusable source, output or option (the tool's
            :func:`~ftan_opencd.errors.exit_on_user_error` reports it).
    """
    parser = build_parser(description, dirs, img_suffixes, label_suffixes,
                          release)
    args = parser.parse_args(argv)
    stride = args.stride or args.tile_size
    if stride > args.tile_size:
        parser.error(f'--stride {stride} is larger than --tile-size '
                     f'{args.tile_size}: the tiles would leave gaps')
    checked = release if getattr(args, 'check_release', False) else None
    results = prepare(args.src, args.out, args.splits, args.dirs,
                      args.img_suffix, args.label_suffix, args.tile_size,
                      stride, args.label_threshold, checked, args.leak_check,
                      args.drop_leaks)
    for line in summary_lines(results, args.out, args.tile_size, stride,
                              release, checked is not None):
        print(line)
    return {split: res.tiles for split, res in results.items()}
