"""Lazy readers of the two dates: numpy arrays, image files and GeoTIFFs.

Every source returns float32 rows ``(rows, W, C)`` exactly as the training
loaders produce them: the decoding, channel and value rules live in
:mod:`ftan_opencd.pixels` and are applied here block by block.

* numpy arrays are taken as decoded (HxW or HxWxC, BGR like
  ``cv2.imread``; no alpha assumed);
* PNG/JPG/BMP files are decoded with OpenCV;
* ``.tif``/``.tiff`` files are read with rasterio one band of rows at a
  time (never the whole scene).

``read_block`` also returns which pixels are valid (finite, not nodata;
rule 4 of :mod:`ftan_opencd.pixels`).
"""
import contextlib
import math
import os.path as osp
from typing import Optional, Tuple, Union

import numpy as np

from ..errors import UserError
from ..pixels import (check_scale, conform, decode_file, import_rasterio,
                      is_raster_path, raster_bands, scale_pixels,
                      valid_pixels)

# GDAL block cache (MB) of a prediction run; GDAL's default is 5% of the RAM.
RASTER_CACHE_MB = 64
# Side of the sample that checks a raster's value range at opening.
SCALE_SAMPLE = 512
# Bytes of raster rows read at a time to take that sample.
SAMPLE_READ_BYTES = 32 * 2**20
ImageLike = Union[str, np.ndarray]


def raster_env():
    """GDAL settings of a prediction run: a small block cache.

    GDAL keeps decoded input blocks and not yet written output blocks in a
    cache of up to ``GDAL_CACHEMAX`` (5% of the RAM by default), which would
    make the memory grow with the scene up to that size. Rows are read and
    written once, top to bottom, so a small cache loses nothing. A no-op
    when rasterio is not installed.
    """
    try:
        import rasterio
    except ImportError:
        return contextlib.nullcontext()
    return rasterio.Env(GDAL_CACHEMAX=RASTER_CACHE_MB)


class ArraySource:
    """An image held in memory (HxW or HxWxC, BGR for colour).

    Args:
        array (np.ndarray): The image.
        name (str): Name used in error messages.
        channels (int): Channels of one date expected by the model.
        alpha (bool): A trailing extra channel is alpha (decoded files).
        max_value (float, optional): See :func:`..pixels.scale_pixels`.
        nodata (float, optional): Value of pixels without data.
    """

    georef = None

    def __init__(self, array: np.ndarray, name: str, channels: int,
                 alpha: bool = False, max_value: Optional[float] = None,
                 nodata: Optional[float] = None):
        if not isinstance(array, np.ndarray):
            raise TypeError(f'{name}: expected a numpy array or a file path, '
                            f'got {type(array).__name__}')
        self.name = name
        self.array = array
        self.channels = channels
        self.alpha = alpha
        self.max_value = max_value
        self.nodata = nodata
        conform(array[:1], channels, name, alpha, max_value)  # checks early
        check_scale(array, name, max_value)
        self.height, self.width = array.shape[:2]
        self.stored = (array.shape[2] if array.ndim == 3 else 1, array.dtype)

    def read_block(self, start: int, stop: int) -> Tuple[np.ndarray,
                                                          np.ndarray]:
        """Rows ``[start, stop)``: float32 (rows, W, C) pixels and the bool
        (rows, W) valid pixels."""
        rows = self.array[start:stop]
        rows = rows[..., None] if rows.ndim == 2 else rows
        pixels = conform(rows, self.channels, self.name, self.alpha,
                         self.max_value).astype(np.float32, copy=False)
        return pixels, valid_pixels(rows, self.nodata)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` as float32 (rows, W, C)."""
        return self.read_block(start, stop)[0]

    def close(self) -> None:
        """Nothing to release."""


def scale_sample(dataset, indexes) -> np.ndarray:
    """A regular grid of about :data:`SCALE_SAMPLE` x :data:`SCALE_SAMPLE`
    pixels of a raster (HxWxC), for the value-range check at opening.

    The rows are read in blocks of about :data:`SAMPLE_READ_BYTES` and
    sliced, so the memory stays bounded. GDAL's own decimated read
    (``read(out_shape=...)``) is not used: on a tiled, pixel-interleaved
    GeoTIFF, the usual layout, it decodes the tiles over and over and is
    far slower than reading the rows (docs/input_data.md).

    Args:
        dataset: An open rasterio dataset.
        indexes (list[int]): Bands to read.

    Returns:
        np.ndarray: Every ``step``-th pixel of every ``step``-th row, with
        ``step = max(1, max(H, W) // SCALE_SAMPLE)``.
    """
    height, width = dataset.height, dataset.width
    step = max(1, max(height, width) // SCALE_SAMPLE)
    row_bytes = width * len(indexes) * np.dtype(dataset.dtypes[0]).itemsize
    block = max(1, SAMPLE_READ_BYTES // (row_bytes * step)) * step
    window = import_rasterio().windows.Window
    parts = []
    for top in range(0, height, block):
        rows = dataset.read(indexes, window=window(
            0, top, width, min(block, height - top)))
        parts.append(np.moveaxis(rows[:, ::step, ::step], 0, -1))
    return np.concatenate(parts)


class RasterSource:
    """A raster read lazily with rasterio, one band of rows at a time.

    Args:
        path (str): Raster file.
        channels (int): Channels of one date expected by the model.
        max_value (float, optional): See :func:`..pixels.scale_pixels`.
        nodata (float, optional): Value of pixels without data; default:
            the value the file declares.
    """

    def __init__(self, path: str, channels: int,
                 max_value: Optional[float] = None,
                 nodata: Optional[float] = None):
        rasterio = import_rasterio()
        self.name = path
        self.max_value = max_value
        try:
            self.dataset = rasterio.open(path)
        except (rasterio.errors.RasterioError, OSError) as exc:
            raise UserError(f'cannot read {path} as a raster: {exc}') \
                from exc
        ds = self.dataset
        self.height, self.width = ds.height, ds.width
        try:
            self.indexes, self.grey = raster_bands(ds, channels, path)
        except ValueError:
            ds.close()
            raise
        self.stored = (ds.count, np.dtype(ds.dtypes[0]))
        self.georef = (ds.crs, ds.transform)
        self.nodata = ds.nodata if nodata is None else nodata
        self._window = rasterio.windows.Window
        sample = scale_sample(ds, self.indexes)
        if self.nodata is not None:
            sample = sample[valid_pixels(sample, self.nodata)]
        check_scale(sample, path, max_value)

    def read_block(self, start: int, stop: int) -> Tuple[np.ndarray,
                                                          np.ndarray]:
        """Rows ``[start, stop)``: float32 (rows, W, C) pixels and the bool
        (rows, W) valid pixels."""
        window = self._window(0, start, self.width, stop - start)
        block = np.moveaxis(self.dataset.read(self.indexes, window=window),
                            0, -1)
        valid = valid_pixels(block, self.nodata)
        block = scale_pixels(block, self.name, self.max_value)
        block = block.astype(np.float32, copy=False)
        return (np.repeat(block, 3, axis=2) if self.grey else block), valid

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` as float32 (rows, W, C)."""
        return self.read_block(start, stop)[0]

    def close(self) -> None:
        """Close the dataset."""
        self.dataset.close()


def open_source(image: ImageLike, name: str, channels: int,
                max_value: Optional[float] = None,
                nodata: Optional[float] = None):
    """Open one date as a source.

    Args:
        image (str | Path | np.ndarray): Path or array (HxWxC, BGR for
            colour).
        name (str): Name for error messages when ``image`` is an array.
        channels (int): Channels of one date expected by the model.
        max_value (float, optional): See :func:`..pixels.scale_pixels`.
        nodata (float, optional): Value of pixels without data (a
            GeoTIFF's own nodata value is used when None).

    Returns:
        ArraySource | RasterSource: The source; call ``close()`` when done.
    """
    if isinstance(image, np.ndarray):
        return ArraySource(image, name, channels, max_value=max_value,
                           nodata=nodata)
    if not isinstance(image, (str, bytes)) and \
            not hasattr(image, '__fspath__'):
        raise TypeError(
            f'{name}: expected an image file path or an HxWxC numpy array '
            f'(BGR), got {type(image).__name__}; convert tensors or PIL '
            'images with np.asarray (and RGB to BGR)')
    path = str(image)
    if is_raster_path(path):
        if not osp.isfile(path):
            raise FileNotFoundError(f'raster file not found: {path}')
        return RasterSource(path, channels, max_value, nodata)
    return ArraySource(decode_file(path), path, channels, True, max_value,
                       nodata)


def _same_transform(a, b) -> bool:
    return all(
        math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        for x, y in zip(tuple(a)[:6], tuple(b)[:6]))


def check_pair(src1, src2) -> None:
    """Refuse a pair whose size, CRS or geotransform disagree.

    Args:
        src1: Source of date 1.
        src2: Source of date 2.

    Raises:
        ValueError: Naming both inputs and what differs.
    """
    problems = []
    if src1.stored != src2.stored:
        problems.append(f'channels and pixel type {src1.stored[0]} x '
                        f'{src1.stored[1]} vs {src2.stored[0]} x '
                        f'{src2.stored[1]}')
    size1, size2 = (src1.height, src1.width), (src2.height, src2.width)
    if size1 != size2:
        problems.append(f'size (HxW) {size1[0]}x{size1[1]} vs '
                        f'{size2[0]}x{size2[1]}')
    if src1.georef is not None or src2.georef is not None:
        crs1, tf1 = src1.georef or (None, None)
        crs2, tf2 = src2.georef or (None, None)
        if crs1 != crs2:
            problems.append(f'CRS {crs1} vs {crs2}')
        if tf1 is None or tf2 is None or not _same_transform(tf1, tf2):
            problems.append(f'geotransform {tuple(tf1 or ())[:6]} vs '
                            f'{tuple(tf2 or ())[:6]}')
    if problems:
        raise UserError(f'{src1.name} and {src2.name} do not form a pair: '
                         + '; '.join(problems))


def open_pair(img1: ImageLike, img2: ImageLike, channels: int,
              names: Optional[Tuple[str, str]] = None,
              max_value: Optional[float] = None,
              nodata: Optional[float] = None):
    """Open and check both dates.

    Args:
        img1 (str | np.ndarray): Date 1.
        img2 (str | np.ndarray): Date 2.
        channels (int): Channels of one date expected by the model.
        names (tuple[str, str], optional): Names of array inputs.
        max_value (float, optional): See :func:`..pixels.scale_pixels`.
        nodata (float, optional): See :func:`open_source`.

    Returns:
        tuple: The two sources (close them when done).
    """
    names = names or ('img1', 'img2')
    src1 = open_source(img1, names[0], channels, max_value, nodata)
    try:
        src2 = open_source(img2, names[1], channels, max_value, nodata)
    except Exception:
        src1.close()
        raise
    try:
        check_pair(src1, src2)
    except ValueError:
        src1.close()
        src2.close()
        raise
    return src1, src2
