"""The OSCD release as N-band GeoTIFF pairs in LEVIR-CD layout.

OSCD (Onera Satellite Change Detection; Daudt et al., IGARSS 2018) holds 24
city pairs of Sentinel-2 Level-1C images, one single-band GeoTIFF per band
and date, and a change mask per city::

    SRC/Onera Satellite Change Detection dataset - Images/
        train.txt, test.txt            city names (comma or line separated)
        <city>/imgs_1_rect/B01.tif ... B12.tif, B8A.tif   date 1
        <city>/imgs_2_rect/...                             date 2
    SRC/Onera Satellite Change Detection dataset - Train Labels/<city>/cm/
        cm.png            0 = no change, 255 = change
        <city>-cm.tif     1 = no change, 2 = change
    SRC/Onera Satellite Change Detection dataset - Test Labels/<city>/cm/...

:func:`prepare` writes ``OUT/{train,val,test}/{A,B,label}``: ``A/<city>.tif``
and ``B/<city>.tif`` hold the bands of one date stacked in the order asked
for, ``label/<city>.png`` the mask as 0/255. Rules:

* **Band order.** :data:`S2_BANDS` by default: B01, B02, B03, B04, B05,
  B06, B07, B08, B8A, B09, B10, B11, B12 (ascending wavelength, ESA's
  product order; the order of the SSL4EO-S12 L1C statistics in
  ``configs/_base_/datasets/oscd.py``). ``bands`` (``--bands``) picks
  another order or a subset; band ``k`` of the output is the k-th name.
  A band file is ``<band>.tif`` (or one ``*_<band>.tif``) in the date
  folder.
* **Grid.** The output grid is that of B02 (10 m) of date 1: its size, CRS,
  geotransform and declared nodata are kept. Date 2's B02 must lie on the
  same grid. A band on another grid (20 m, 60 m) is resampled onto it with
  ``resampling`` (bilinear by default): with ``rasterio.warp.reproject``
  when the band and B02 are georeferenced (the band must cover every B02
  pixel centre when both share a CRS), else with ``read(out_shape=...)``,
  which assumes the same extent. A band already on the grid is copied bit
  for bit.
* **Values.** As stored (uint16, reflectance x 10000 for L1C); every band
  of a city must have B02's pixel type. The model configs read them with
  ``CDLoadImagePair(channels=13, max_value=65535)``.
* **Labels** follow the project's label rule
  (:func:`ftan_opencd.pixels.binary_label`): ``cm/cm.png`` (0/255) is read
  as it is; the 1/2 ``cm/<city>-cm.tif`` needs ``label_threshold=2``
  (changed where the value is >= 2). Refused, naming the file and the
  option (:func:`check_mask_convention`): a mask of only 1 and 2, or only
  1, without a threshold (the rule would refuse it or read it as all
  changed), and a 4-channel (colour + alpha) mask with a threshold (the
  rule would compare the alpha channel too). Labels are written as 0/255
  PNG and must have the grid's size.
* **Splits.** ``test.txt`` cities form test (labels from ``... - Test
  Labels``); ``train.txt`` cities form train, less the validation cities:
  ``val_cities``, or else the last ``num_val`` cities of ``train.txt``
  (labels from ``... - Train Labels``).
* **Tiles** (``tile``): the stacked pairs are written to a temporary folder
  in ``OUT`` and cut by :func:`ftan_tools.datasets.tiling.tile_split`
  (windows every ``stride`` pixels, the last one flush with the border;
  names ``<city>_y<top>_x<left>``; GeoTIFF tiles keep the georeferencing).
* **Statistics** (``stats``): per-band mean and standard deviation of the
  train split (both dates, whole images, pixels whose bands are all 0
  left out), printed as config lines by :func:`stats_lines`.
* **Nothing silently wrong.** Every file of every city is looked up before
  anything is written; errors are :class:`~.tiling.DatasetError` naming the
  files; files are written under a temporary name and renamed.
"""
import argparse
import contextlib
import os
import os.path as osp
import re
import shutil
import tempfile
import warnings
from typing import (Dict, Iterator, List, NamedTuple, Optional, Sequence,
                    Tuple)

import numpy as np

from ftan_opencd.pixels import decode_label, import_rasterio
from . import tiling
from .tiling import DatasetError, positive_float, positive_int

IMAGES_DIR = 'Onera Satellite Change Detection dataset - Images'
LABELS_DIRS = {
    'train': 'Onera Satellite Change Detection dataset - Train Labels',
    'test': 'Onera Satellite Change Detection dataset - Test Labels',
}
S2_BANDS = ('B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A',
            'B09', 'B10', 'B11', 'B12')
REF_BAND = 'B02'
DATE_DIRS = ('imgs_1_rect', 'imgs_2_rect')
LABEL_FILE = 'cm/cm.png'
NUM_VAL = 2
MAX_VALUE = 65535.0
RESAMPLINGS = ('bilinear', 'nearest', 'cubic', 'average')
RASTER_SUFFIXES = ('.tif', '.tiff')
SPLITS = ('train', 'val', 'test')
MAX_LISTED = 5


class Grid(NamedTuple):
    """The pixel grid every band is put on (B02 of date 1).

    Attributes:
        path (str): The file that defines it.
        height (int): Rows.
        width (int): Columns.
        crs: Coordinate reference system (None if not georeferenced).
        transform: Affine geotransform.
        nodata (float, optional): Declared no-data value.
        dtype (str): Pixel type.
    """
    path: str
    height: int
    width: int
    crs: object
    transform: object
    nodata: Optional[float]
    dtype: str


class City(NamedTuple):
    """The files of one city.

    Attributes:
        name (str): City name (the output file stem).
        split (str): ``train``, ``val`` or ``test``.
        dates (tuple[list[str], list[str]]): Band files of each date, in
            the output band order.
        refs (tuple[str, str]): B02 file of each date (the grid).
        label (str): Change mask file.
    """
    name: str
    split: str
    dates: Tuple[List[str], List[str]]
    refs: Tuple[str, str]
    label: str


# ------------------------------------------------------------------ splits
def read_city_list(path: str) -> List[str]:
    """City names of ``train.txt`` / ``test.txt``.

    Args:
        path (str): The list file (names separated by commas, white space
            or line breaks, as in the release).

    Raises:
        DatasetError: If the file is missing, empty or repeats a name.
    """
    if not osp.isfile(path):
        raise DatasetError(f'city list not found: {path}')
    with open(path, encoding='utf-8') as f:
        names = [n for n in re.split(r'[,\s]+', f.read()) if n]
    if not names:
        raise DatasetError(f'{path} lists no city')
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DatasetError(f'{path} lists {repeated} more than once')
    return names


def assign_splits(train_cities: Sequence[str], test_cities: Sequence[str],
                  val_cities: Optional[Sequence[str]] = None,
                  num_val: int = NUM_VAL) -> Dict[str, List[str]]:
    """Cities of train, val and test.

    Args:
        train_cities (Sequence[str]): ``train.txt``, in file order.
        test_cities (Sequence[str]): ``test.txt``.
        val_cities (Sequence[str], optional): Validation cities, taken out
            of train; None: the last ``num_val`` of ``train_cities``.
        num_val (int): Validation cities when ``val_cities`` is None.

    Returns:
        dict[str, list[str]]: Cities per split (train in file order).

    Raises:
        DatasetError: A city in both lists, a validation city not in
            ``train.txt``, or no city left for training.
    """
    both = sorted(set(train_cities) & set(test_cities))
    if both:
        raise DatasetError(f'cities in both train.txt and test.txt: {both}')
    if val_cities is None:
        if not 0 <= num_val < len(train_cities):
            raise DatasetError(
                f'--num-val {num_val}: train.txt lists '
                f'{len(train_cities)} cities; keep at least one for training')
        val_cities = list(train_cities[len(train_cities) - num_val:])
    unknown = [c for c in val_cities if c not in train_cities]
    if unknown:
        raise DatasetError(f'--val-cities {unknown} are not in train.txt '
                           f'({", ".join(train_cities)})')
    train = [c for c in train_cities if c not in val_cities]
    if not train:
        raise DatasetError('--val-cities takes every train.txt city; keep at '
                           'least one for training')
    return dict(train=train, val=list(dict.fromkeys(val_cities)),
                test=list(test_cities))


# ------------------------------------------------------------------ files
def find_band_file(folder: str, band: str) -> str:
    """The file of ``band`` in a date folder.

    Args:
        folder (str): e.g. ``<city>/imgs_1_rect``.
        band (str): Band name, e.g. ``'B8A'``.

    Returns:
        str: ``<band>.tif`` if present, else the one ``*_<band>.tif``
        (suffix .tif/.tiff, any case).

    Raises:
        DatasetError: If the folder is missing, or there is no such file or
            several.
    """
    if not osp.isdir(folder):
        raise DatasetError(f'date folder not found: {folder}')
    rasters = [n for n in sorted(os.listdir(folder))
               if osp.splitext(n)[1].lower() in RASTER_SUFFIXES]
    exact = [n for n in rasters if osp.splitext(n)[0] == band]
    found = exact or [n for n in rasters
                      if osp.splitext(n)[0].endswith('_' + band)]
    if len(found) != 1:
        what = 'no file' if not found else f'{len(found)} files {found}'
        raise DatasetError(f'{folder}: {what} for band {band} (looked for '
                           f'{band}.tif or *_{band}.tif)')
    return osp.join(folder, found[0])


def label_path(src: str, split: str, city: str, label_file: str) -> str:
    """The change mask of ``city`` (``{city}`` in ``label_file`` is
    replaced by the city name)."""
    labels = LABELS_DIRS['test' if split == 'test' else 'train']
    return osp.join(src, labels, city, label_file.format(city=city))


def list_cities(src: str, cities: Dict[str, List[str]], bands: Sequence[str],
                label_file: str) -> List[City]:
    """Look up every file of every city before anything is read.

    Args:
        src (str): Release root.
        cities (dict[str, list[str]]): Cities per split to write.
        bands (Sequence[str]): Output band order.
        label_file (str): Mask path inside ``<labels>/<city>/``.

    Returns:
        list[City]: Per city, its files.

    Raises:
        DatasetError: Listing (up to 5 of) the missing files.
    """
    images = osp.join(src, IMAGES_DIR)
    listed, problems = [], []
    for split, names in cities.items():
        for name in names:
            try:
                dates = tuple([find_band_file(
                    osp.join(images, name, d), band) for band in bands]
                    for d in DATE_DIRS)
                refs = tuple(find_band_file(osp.join(images, name, d),
                                            REF_BAND) for d in DATE_DIRS)
            except DatasetError as error:
                problems.append(str(error))
                continue
            label = label_path(src, split, name, label_file)
            if not osp.isfile(label):
                problems.append(f'change mask not found: {label}')
                continue
            listed.append(City(name, split, dates, refs, label))
    if problems:
        more = f' (and {len(problems) - MAX_LISTED} more)' \
            if len(problems) > MAX_LISTED else ''
        raise DatasetError('; '.join(problems[:MAX_LISTED]) + more)
    return listed


# ------------------------------------------------------------------ rasters
@contextlib.contextmanager
def _quiet(rasterio) -> Iterator[None]:
    """A context in which rasterio's NotGeoreferencedWarning is ignored."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore',
                              rasterio.errors.NotGeoreferencedWarning)
        yield


def _open(path: str):
    """Open a raster, or raise :class:`DatasetError` naming it."""
    rasterio = import_rasterio()
    try:
        return rasterio.open(path)
    except (rasterio.errors.RasterioError, OSError) as error:
        raise DatasetError(f'cannot read {path} as a raster: {error}')


def _georeferenced(dataset) -> bool:
    """The raster has a CRS (and so a meaningful geotransform)."""
    return dataset.crs is not None


def read_grid(path: str) -> Grid:
    """The grid of a single-band raster (the reference band).

    Raises:
        DatasetError: Unreadable file or not one band.
    """
    rasterio = import_rasterio()
    with _quiet(rasterio), _open(path) as dataset:
        _check_single_band(dataset, path)
        return Grid(path, dataset.height, dataset.width, dataset.crs,
                    dataset.transform, dataset.nodata, dataset.dtypes[0])


def _check_single_band(dataset, path: str) -> None:
    if dataset.count != 1:
        raise DatasetError(f'{path} has {dataset.count} bands; an OSCD band '
                           'file holds one')


def check_same_grid(grid: Grid, other: Grid) -> None:
    """Refuse a date whose reference band lies on another grid.

    Raises:
        DatasetError: Naming both files and both grids.
    """
    same = ((grid.height, grid.width) == (other.height, other.width)
            and grid.crs == other.crs
            and grid.transform.almost_equals(other.transform))
    if not same:
        raise DatasetError(
            f'the two dates lie on different grids: {_describe(grid)}, '
            f'{_describe(other)}')


def _describe(grid: Grid) -> str:
    """``'<file> is WxH, CRS, geotransform'`` for messages."""
    return (f'{grid.path} is {grid.width}x{grid.height}, CRS {grid.crs}, '
            f'geotransform {tuple(grid.transform)[:6]}')


def _on_grid(dataset, grid: Grid) -> bool:
    """The raster already lies on ``grid`` (no resampling needed)."""
    if (dataset.height, dataset.width) != (grid.height, grid.width):
        return False
    if not _georeferenced(dataset) or grid.crs is None:
        return True
    return dataset.crs == grid.crs and \
        dataset.transform.almost_equals(grid.transform)


def _bounds(grid: Grid) -> Tuple[float, float, float, float]:
    """``(west, south, east, north)`` of a grid (any affine transform)."""
    t = grid.transform
    xs, ys = zip(*[(t.c + t.a * col + t.b * row, t.f + t.d * col + t.e * row)
                   for col in (0, grid.width) for row in (0, grid.height)])
    return min(xs), min(ys), max(xs), max(ys)


def _check_covers(dataset, grid: Grid, path: str) -> None:
    """Refuse a band (same CRS as the grid) that misses grid pixel centres.

    Raises:
        DatasetError: Naming the band, the reference file and both extents.
    """
    if dataset.crs != grid.crs:
        return
    west, south, east, north = _bounds(grid)
    half_x = abs(grid.transform.a) / 2
    half_y = abs(grid.transform.e) / 2
    bounds = dataset.bounds
    covered = (bounds.left <= west + half_x and bounds.right >= east - half_x
               and bounds.bottom <= south + half_y
               and bounds.top >= north - half_y)
    if not covered:
        raise DatasetError(
            f'{path} covers x {bounds.left:g}..{bounds.right:g}, y '
            f'{bounds.bottom:g}..{bounds.top:g} but the grid of {grid.path} '
            f'spans x {west:g}..{east:g}, y {south:g}..{north:g}: pixels '
            'would be left empty')


def read_band(path: str, grid: Grid,
              resampling: str = 'bilinear') -> np.ndarray:
    """One band on ``grid`` (see the module rules).

    Args:
        path (str): Single-band raster.
        grid (Grid): Target grid.
        resampling (str): A name of :data:`RESAMPLINGS`.

    Returns:
        np.ndarray: ``(grid.height, grid.width)`` of ``grid.dtype``.

    Raises:
        DatasetError: Unreadable file, not one band, another pixel type
            than the grid's, or a band that does not cover the grid.
    """
    rasterio = import_rasterio()
    from rasterio.enums import Resampling
    from rasterio.warp import reproject
    method = Resampling[resampling]
    with _quiet(rasterio), _open(path) as dataset:
        _check_single_band(dataset, path)
        if dataset.dtypes[0] != grid.dtype:
            raise DatasetError(
                f'{path} is {dataset.dtypes[0]} but {grid.path} is '
                f'{grid.dtype}; the bands of a date are stacked in one '
                'pixel type')
        if _on_grid(dataset, grid):
            return dataset.read(1)
        if _georeferenced(dataset) and grid.crs is not None:
            _check_covers(dataset, grid, path)
            band = np.zeros((grid.height, grid.width), grid.dtype)
            reproject(rasterio.band(dataset, 1), band,
                      dst_transform=grid.transform, dst_crs=grid.crs,
                      resampling=method)
            return band
        return dataset.read(1, out_shape=(grid.height, grid.width),
                            resampling=method)


def stack_date(paths: Sequence[str], grid: Grid,
               resampling: str = 'bilinear') -> np.ndarray:
    """The bands of one date on ``grid``, ``(bands, H, W)`` in file order.

    Args:
        paths (Sequence[str]): Band files in the output order.
        grid (Grid): Target grid.
        resampling (str): See :func:`read_band`.
    """
    return np.stack([read_band(path, grid, resampling) for path in paths])


def write_stack(path: str, stack: np.ndarray, grid: Grid,
                bands: Sequence[str]) -> None:
    """Write a ``(bands, H, W)`` stack as a GeoTIFF on ``grid``.

    The band descriptions are the band names; CRS, geotransform and nodata
    are the grid's (none where it has none). Written under a temporary
    name and renamed.

    Raises:
        DatasetError: If the file cannot be written.
    """
    rasterio = import_rasterio()
    profile = dict(driver='GTiff', height=grid.height, width=grid.width,
                   count=stack.shape[0], dtype=str(stack.dtype),
                   nodata=grid.nodata, compress='deflate', predictor=2)
    if grid.crs is not None or not grid.transform.is_identity:
        profile.update(crs=grid.crs, transform=grid.transform)

    def write(tmp: str) -> None:
        try:
            with _quiet(rasterio), rasterio.open(tmp, 'w', **profile) as dst:
                dst.write(stack)
                for index, band in enumerate(bands, 1):
                    dst.set_band_description(index, band)
        except rasterio.errors.RasterioError as error:
            raise OSError(str(error)) from error

    tiling.write_atomic(path, write)


def check_mask_convention(raw: np.ndarray, path: str,
                          threshold: Optional[float]) -> None:
    """Refuse the masks the label rule would misread for OSCD.

    * A 4-channel (colour + alpha) mask with a threshold: the rule would
      compare the alpha channel too and mark opaque pixels as changed.
    * Without a threshold, a mask of 1 and 2 (OSCD's ``<city>-cm.tif``:
      1 = no change, 2 = change), and a mask that is 1 everywhere: in the
      0/1 convention every pixel would be changed, in the TIF convention
      none is.

    Args:
        raw (np.ndarray): The mask as decoded.
        path (str): Mask file for messages.
        threshold (float, optional): ``--label-threshold``.

    Raises:
        DatasetError: Naming the file and the options to use.
    """
    hint = ("--label-file 'cm/{city}-cm.tif' --label-threshold 2 reads "
            'the 1/2 TIF masks')
    if raw.ndim == 3 and raw.shape[2] == 4 and threshold is not None:
        raise DatasetError(
            f'{path} has 4 channels (colour + alpha): --label-threshold '
            'would also compare the alpha channel and mark opaque pixels as '
            f'changed; give a grey mask ({hint})')
    if threshold is None and raw.ndim == 2 and \
            set(np.unique(raw).tolist()) in ({1, 2}, {1}):
        raise DatasetError(
            f'change mask {path} holds only {sorted(np.unique(raw))}: the '
            'OSCD <city>-cm.tif convention (1 = no change, 2 = change), '
            'which the label rule reads as 0/1 or refuses; give '
            '--label-threshold 2 (changed where the value is >= 2)')


def read_city_label(path: str, grid: Grid,
                    threshold: Optional[float] = None) -> np.ndarray:
    """A change mask as 0/255 uint8 by the project's label rule.

    Args:
        path (str): Mask file.
        grid (Grid): The city's grid (the mask must have its size).
        threshold (float, optional): ``--label-threshold``.

    Raises:
        DatasetError: Values outside the rule (naming ``--label-threshold``),
            a mask :func:`check_mask_convention` refuses, or another size.
    """
    try:
        raw = decode_label(path)
    except (ValueError, FileNotFoundError) as error:
        raise DatasetError(str(error)) from error
    check_mask_convention(raw, path, threshold)
    label = tiling.read_label(path, threshold)
    if label.shape != (grid.height, grid.width):
        raise DatasetError(
            f'change mask {path} is {label.shape[1]}x{label.shape[0]} but '
            f'{grid.path} is {grid.width}x{grid.height}')
    return label


# ------------------------------------------------------------------ stats
class BandStats:
    """Per-band mean and standard deviation accumulated image by image
    (Chan et al.'s pairwise update, in float64).

    Args:
        num_bands (int): Bands per image.
    """

    def __init__(self, num_bands: int) -> None:
        self.count = 0
        self.mean = np.zeros(num_bands)
        self.m2 = np.zeros(num_bands)

    def update(self, stack: np.ndarray) -> None:
        """Add the pixels of a ``(bands, H, W)`` stack whose bands are not
        all 0 (Sentinel-2 L1C no-data)."""
        pixels = stack.reshape(stack.shape[0], -1)
        pixels = pixels[:, (pixels != 0).any(axis=0)].astype(np.float64)
        count = pixels.shape[1]
        if not count:
            return
        mean = pixels.mean(axis=1)
        m2 = ((pixels - mean[:, None])**2).sum(axis=1)
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * count / total
        self.m2 = self.m2 + m2 + delta**2 * self.count * count / total
        self.count = total

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation per band."""
        return np.sqrt(self.m2 / max(self.count, 1))


def _values(values: Sequence[float]) -> str:
    return '[' + ', '.join(f'{v:.4f}' for v in values) + ']'


def stats_lines(stats: BandStats, bands: Sequence[str], cities: int,
                max_value: float = MAX_VALUE) -> List[str]:
    """Config lines with the train split's per-band statistics.

    Args:
        stats (BandStats): Accumulated over the train split.
        bands (Sequence[str]): Band names in file order.
        cities (int): Train cities (for the comment).
        max_value (float): ``CDLoadImagePair(max_value=...)`` of the
            config: the data preprocessor sees ``value * 255 / max_value``.

    Returns:
        list[str]: Comment lines, the statistics as stored, and a
        ``data_preprocessor`` / ``model`` override (both dates).
    """
    if not stats.count:
        raise DatasetError('--stats: the train split has no pixel with a '
                           'non-zero band')
    scale = 255.0 / max_value
    return [
        f'# per-band statistics of the train split ({cities} cities, both '
        f'dates, {stats.count} pixels whose bands are not all 0)',
        f'# bands: {" ".join(bands)}; values as stored:',
        f'band_mean_dn = {_values(stats.mean)}',
        f'band_std_dn = {_values(stats.std)}',
        f'# for the model (value * 255 / {max_value:g}, the loaders\' '
        f'max_value={max_value:g}), t1 then t2:',
        f'data_preprocessor = dict(mean={_values(stats.mean * scale)} * 2,',
        f'                         std={_values(stats.std * scale)} * 2)',
        'model = dict(data_preprocessor=data_preprocessor)',
    ]


# ------------------------------------------------------------------ driver
class Result(NamedTuple):
    """What :func:`prepare` wrote.

    Attributes:
        cities (dict[str, list[str]]): Cities per split written.
        files (dict[str, int]): Files per output folder (A, B and label
            alike) per split: cities, or tiles with ``tile``.
        stats (BandStats, optional): Train statistics (``stats=True``).
        stale (dict[str, int]): Files already in an output folder that this
            run did not write (from an earlier run?), per folder.
    """
    cities: Dict[str, List[str]]
    files: Dict[str, int]
    stats: Optional[BandStats]
    stale: Dict[str, int]


def write_city(city: City, out_dir: str, bands: Sequence[str],
               resampling: str, label_threshold: Optional[float],
               tile: Optional[int] = None) -> Tuple[np.ndarray, ...]:
    """Stack both dates of a city and write them with its 0/255 mask.

    Everything is read and checked before the first file is written.

    Args:
        city (City): Its files.
        out_dir (str): Split folder (``A``, ``B``, ``label`` inside).
        bands (Sequence[str]): Band names (descriptions).
        resampling (str): See :func:`read_band`.
        label_threshold (float, optional): See :func:`read_city_label`.
        tile (int, optional): Tile size: the grid must not be smaller.

    Returns:
        tuple[np.ndarray, np.ndarray]: Both stacks (for statistics).
    """
    grid = read_grid(city.refs[0])
    check_same_grid(grid, read_grid(city.refs[1]))
    if tile and min(grid.height, grid.width) < tile:
        raise DatasetError(
            f'{grid.path} is {grid.width}x{grid.height}, smaller than the '
            f'{tile}x{tile} tiles on at least one side; use a --tile-size of '
            f'at most {min(grid.height, grid.width)}')
    stacks = [stack_date(paths, grid, resampling) for paths in city.dates]
    label = read_city_label(city.label, grid, label_threshold)
    for folder in tiling.OUT_DIRS:
        os.makedirs(osp.join(out_dir, folder), exist_ok=True)
    for stack, folder in zip(stacks, tiling.OUT_DIRS):
        write_stack(osp.join(out_dir, folder, city.name + '.tif'), stack,
                    grid, bands)
    tiling.write_atomic(osp.join(out_dir, 'label', city.name + '.png'),
                        lambda tmp: tiling.write_png(tmp, label))
    print(f'{city.split}: {city.name} {grid.width}x{grid.height}, '
          f'{len(bands)} bands')
    return tuple(stacks)


def _tile(full: str, out: str, split: str, tile: int,
          stride: Optional[int]) -> Tuple[int, Dict[str, int]]:
    """Tile the stacked pairs of ``full/split`` into ``out/split``.

    Returns:
        tuple: Tiles written and files left over per output folder.
    """
    pairs = tiling.find_pairs(osp.join(full, split), tiling.OUT_DIRS,
                              ('.tif', ), ('.png', ))
    result = tiling.tile_split(pairs, osp.join(out, split), tile,
                               stride or tile)
    return result.tiles, result.stale


def _listing(folder: str) -> set:
    """Names of the files in ``folder`` (empty if it does not exist)."""
    return set(os.listdir(folder)) if osp.isdir(folder) else set()


def stale_files(out: str, cities: Dict[str, List[str]],
                before: Dict[str, set]) -> Dict[str, int]:
    """Files of the output folders that a whole-image run did not write.

    Args:
        out (str): Output root.
        cities (dict[str, list[str]]): Cities written per split.
        before (dict[str, set]): File names per folder before the run.

    Returns:
        dict[str, int]: Number of other files per folder (if any).
    """
    stale = {}
    for split, names in cities.items():
        for folder, suffix in zip(tiling.OUT_DIRS, ('.tif', '.tif', '.png')):
            path = osp.join(out, split, folder)
            left = before.get(path, set()) - {n + suffix for n in names}
            if left:
                stale[path] = len(left)
    return stale


def prepare(src: str, out: str, bands: Sequence[str] = S2_BANDS,
            splits: Sequence[str] = SPLITS,
            val_cities: Optional[Sequence[str]] = None,
            num_val: int = NUM_VAL, label_file: str = LABEL_FILE,
            label_threshold: Optional[float] = None,
            resampling: str = 'bilinear', tile: Optional[int] = None,
            stride: Optional[int] = None, stats: bool = False) -> Result:
    """Write the release in LEVIR-CD layout (see the module rules).

    Args:
        src (str): Release root (the folders ``IMAGES_DIR`` and
            ``LABELS_DIRS``).
        out (str): Output root (outside ``src``).
        bands (Sequence[str]): Band order of the stacked files.
        splits (Sequence[str]): Splits to write.
        val_cities (Sequence[str], optional): Validation cities.
        num_val (int): Else the last ``num_val`` train cities.
        label_file (str): Mask inside ``<labels>/<city>/``; ``{city}`` is
            replaced by the name.
        label_threshold (float, optional): Binarise masks on purpose.
        resampling (str): One of :data:`RESAMPLINGS`.
        tile (int, optional): Cut the pairs into ``tile`` x ``tile`` tiles.
        stride (int, optional): Step between tiles (default ``tile``).
        stats (bool): Accumulate the train split's per-band statistics.

    Returns:
        Result: Cities and files per split, statistics.

    Raises:
        DatasetError: Bad options or source (before writing), or a city
            that cannot be read (naming the files).
    """
    check_options(bands, splits, resampling, tile, stride, stats)
    tiling.check_locations(src, out, splits)
    images = osp.join(src, IMAGES_DIR)
    if not osp.isdir(images):
        raise DatasetError(f'{src} is not the OSCD release: folder not '
                           f'found: {images}')
    cities = assign_splits(read_city_list(osp.join(images, 'train.txt')),
                           read_city_list(osp.join(images, 'test.txt')),
                           val_cities, num_val)
    cities = {split: cities[split] for split in splits if cities[split]}
    listed = list_cities(src, cities, bands, label_file)
    band_stats = BandStats(len(bands)) if stats else None
    before = {osp.join(out, split, folder):
              _listing(osp.join(out, split, folder))
              for split in cities for folder in tiling.OUT_DIRS}
    os.makedirs(out, exist_ok=True)
    full = tempfile.mkdtemp(prefix='.oscd-full-', dir=out) if tile else out
    try:
        for city in listed:
            stacks = write_city(city, osp.join(full, city.split), bands,
                                resampling, label_threshold, tile)
            if band_stats is not None and city.split == 'train':
                for stack in stacks:
                    band_stats.update(stack)
        files = {split: len(names) for split, names in cities.items()}
        stale = stale_files(out, cities, before) if not tile else {}
        for split in cities if tile else ():
            files[split], split_stale = _tile(full, out, split, tile,
                                              stride)
            stale.update(split_stale)
    finally:
        if tile:
            shutil.rmtree(full, ignore_errors=True)
    return Result(cities, files, band_stats, stale)


def check_options(bands: Sequence[str], splits: Sequence[str],
                  resampling: str, tile: Optional[int],
                  stride: Optional[int], stats: bool = False) -> None:
    """Refuse options that cannot work, before anything is read.

    Raises:
        DatasetError: Naming the option.
    """
    if not bands:
        raise DatasetError('--bands: give at least one band')
    repeated = sorted({b for b in bands if list(bands).count(b) > 1})
    if repeated:
        raise DatasetError(f'--bands lists {repeated} more than once')
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise DatasetError(f'--splits {unknown or "(none)"}: choose from '
                           f'{", ".join(SPLITS)}')
    if resampling not in RESAMPLINGS:
        raise DatasetError(f'--resampling {resampling!r}: choose from '
                           f'{", ".join(RESAMPLINGS)}')
    if stride is not None and (tile is None or not 1 <= stride <= tile):
        raise DatasetError(f'--stride {stride} needs --tile-size and '
                           '1 <= stride <= tile size')
    if stats and 'train' not in splits:
        raise DatasetError('--stats computes the statistics of the train '
                           'split: add train to --splits')


def _count(num: int, one: str, many: str) -> str:
    """``'1 city'``, ``'2 cities'``."""
    return f'{num} {one if num == 1 else many}'


def summary_lines(result: Result, out: str, bands: Sequence[str],
                  resampling: str, tile: Optional[int]) -> List[str]:
    """Describe what :func:`prepare` wrote.

    Args:
        result (Result): From :func:`prepare`.
        out (str): Output root.
        bands (Sequence[str]): Band order.
        resampling (str): Resampling used off the B02 grid.
        tile (int, optional): Tile size.

    Returns:
        list[str]: Lines to print.
    """
    unit = f'{tile}x{tile} tile' if tile else 'pair'
    lines = [
        f'{split}: {_count(len(names), "city", "cities")} '
        f'({", ".join(names)}) -> '
        f'{_count(result.files[split], unit, unit + "s")} in '
        f'{osp.join(out, split)}/{{A,B,label}}'
        for split, names in result.cities.items()
    ]
    lines.append(
        f'images: {len(bands)}-band GeoTIFF (.tif), bands in file order '
        f'{" ".join(bands)}, values as stored, on the {REF_BAND} grid '
        f'(other grids resampled: {resampling}); labels: 0/255 PNG')
    lines += [
        f'warning: {folder} also holds {num} file(s) this run did not write '
        '(from an earlier run?); remove them or use a new output folder'
        for folder, num in result.stale.items()
    ]
    return lines


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/prepare_oscd.py``."""
    parser = argparse.ArgumentParser(
        description='Stack the OSCD release (13 Sentinel-2 bands per date) '
        'into N-band GeoTIFF pairs in LEVIR-CD layout')
    parser.add_argument('src', help='release root holding the folders '
                        f'"{IMAGES_DIR}", "{LABELS_DIRS["train"]}" and '
                        f'"{LABELS_DIRS["test"]}"')
    parser.add_argument('out', help='output root (outside src)')
    parser.add_argument('--bands', nargs='+', default=list(S2_BANDS),
                        help='band order of the output files (default: '
                        '%(default)s)')
    parser.add_argument('--splits', nargs='+', default=list(SPLITS),
                        help='splits to write (default: %(default)s)')
    val = parser.add_mutually_exclusive_group()
    val.add_argument('--val-cities', nargs='+', default=None,
                     help='validation cities, taken out of train.txt')
    val.add_argument('--num-val', type=int, default=NUM_VAL,
                     help='else the last N cities of train.txt '
                     '(default: %(default)s)')
    parser.add_argument('--label-file', default=LABEL_FILE,
                        help='mask inside <labels>/<city>/, {city} is the '
                        "name (default: %(default)s; 'cm/{city}-cm.tif' with "
                        '--label-threshold 2 for the 1/2 TIFs)')
    parser.add_argument('--label-threshold', type=positive_float,
                        default=None,
                        help='binarise masks on purpose: changed where the '
                        'value is >= this (default: masks hold only '
                        '{0, 255} or {0, 1})')
    parser.add_argument('--resampling', choices=RESAMPLINGS,
                        default='bilinear',
                        help='resampling of bands off the B02 (10 m) grid '
                        '(default: %(default)s)')
    parser.add_argument('--tile-size', type=positive_int, default=None,
                        help='cut the pairs into tiles of this size (last '
                        'tile flush with the border; default: whole images)')
    parser.add_argument('--stride', type=positive_int, default=None,
                        help='step between tiles (default: the tile size)')
    parser.add_argument('--stats', action='store_true',
                        help='print the per-band mean/std of the train '
                        'split as config lines')
    parser.add_argument('--max-value', type=positive_float,
                        default=MAX_VALUE,
                        help='max_value of the config\'s loaders, for the '
                        '--stats lines (default: %(default)s)')
    return parser


def run_cli(argv: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Run ``tools/prepare_oscd.py``.

    Args:
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        dict[str, int]: Files per output folder per split.

    Raises:
        SystemExit: Status 2 on bad options.
        DatasetError: On an unusable release, output or option (the tool's
            :func:`~ftan_opencd.errors.exit_on_user_error` reports it).
    """
    args = build_parser().parse_args(argv)
    result = prepare(args.src, args.out, args.bands, args.splits,
                     args.val_cities, args.num_val, args.label_file,
                     args.label_threshold, args.resampling, args.tile_size,
                     args.stride, args.stats)
    lines = summary_lines(result, args.out, args.bands, args.resampling,
                          args.tile_size)
    if result.stats is not None:
        lines += stats_lines(result.stats, args.bands,
                             len(result.cities.get('train', [])),
                             args.max_value)
    for line in lines:
        print(line)
    return result.files
