"""Lazy readers of the two dates: numpy arrays, image files and GeoTIFFs.

Every source returns float32 rows ``(rows, W, C)`` in the channel order the
training loaders produce (OpenCV's: BGR for colour images), on the 0..255
scale of the training data:

* numpy arrays are taken as given (HxW or HxWxC, BGR like ``cv2.imread``);
* PNG/JPG/BMP files are decoded with OpenCV (BGR);
* ``.tif``/``.tiff`` files are read with rasterio one band of rows at a
  time (never the whole scene); 3-band rasters are reversed to BGR, which
  is what OpenCV, hence the training loader, returns for the same file.

uint8 data is used as is and uint16 data is divided by 257 (the rule of
``CDLoadImagePair``); float data is assumed to be on the 0..255 scale
already. A grey image is replicated for a 3-channel model and an alpha band
is dropped; any other channel mismatch is refused.
"""
import contextlib
import math
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

RASTER_SUFFIXES = ('.tif', '.tiff')
# GDAL block cache (MB) of a prediction run; GDAL's default is 5% of the RAM.
RASTER_CACHE_MB = 64
UINT16_TO_UINT8 = 257.0
ImageLike = Union[str, np.ndarray]


def import_rasterio():
    """Import rasterio or explain how to install it.

    Raises:
        ImportError: rasterio is not installed.
    """
    try:
        import rasterio
    except ImportError as exc:
        raise ImportError(
            'GeoTIFF (.tif/.tiff) input and output need rasterio, which is '
            'not installed: pip install rasterio  (or: pip install -e .[geo])'
        ) from exc
    return rasterio


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


def is_raster_path(path) -> bool:
    """True for a path read and written with rasterio (.tif/.tiff)."""
    return isinstance(path, str) and \
        osp.splitext(path)[1].lower() in RASTER_SUFFIXES


def to_float(block: np.ndarray, name: str) -> np.ndarray:
    """Convert stored pixels to float32 on the 0..255 training scale.

    Args:
        block (np.ndarray): Pixels as stored.
        name (str): Source name for error messages.
    """
    if block.dtype == np.uint8 or np.issubdtype(block.dtype, np.floating):
        return block.astype(np.float32, copy=False)
    if block.dtype == np.uint16:
        return block.astype(np.float32) / UINT16_TO_UINT8
    raise ValueError(f'{name}: unsupported pixel type {block.dtype}; use '
                     'uint8, uint16 or float data on the 0..255 scale')


def select_channels(stored: int, wanted: int, name: str,
                    last_is_alpha: bool) -> Tuple[Sequence[int], bool]:
    """Channels to read for a model taking ``wanted`` channels per date.

    Args:
        stored (int): Channels in the source.
        wanted (int): Channels of one date expected by the model.
        name (str): Source name for error messages.
        last_is_alpha (bool): The last stored channel is an alpha channel.

    Returns:
        tuple: Indices of the channels to keep and whether a single grey
        channel has to be replicated to 3.
    """
    if stored == wanted:
        return list(range(stored)), False
    if stored == 1 and wanted == 3:
        return [0], True
    if stored == wanted + 1 and last_is_alpha:
        return list(range(wanted)), False
    raise ValueError(f'{name} has {stored} channel(s) but the model takes '
                     f'{wanted} per date (backbone_inchannels)')


class ArraySource:
    """An image held in memory (HxW or HxWxC, BGR for colour).

    Args:
        array (np.ndarray): The image.
        name (str): Name used in error messages.
        channels (int): Channels of one date expected by the model.
        alpha (bool): A 4th channel (of a 3-channel model) is alpha.
    """

    georef = None

    def __init__(self, array: np.ndarray, name: str, channels: int,
                 alpha: bool = False):
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim != 3 or array.shape[0] < 1 or array.shape[1] < 1:
            raise ValueError(f'{name}: expected an HxW or HxWxC image, got '
                             f'shape {array.shape}')
        self.name = name
        self.array = array
        self.height, self.width = array.shape[:2]
        self.keep, self.grey = select_channels(array.shape[2], channels,
                                               name, alpha)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` as float32 (rows, W, C)."""
        block = to_float(self.array[start:stop][..., self.keep], self.name)
        return np.repeat(block, 3, axis=2) if self.grey else block

    def close(self) -> None:
        """Nothing to release."""


class RasterSource:
    """A raster read lazily with rasterio, one band of rows at a time.

    Args:
        path (str): Raster file.
        channels (int): Channels of one date expected by the model.
    """

    def __init__(self, path: str, channels: int):
        rasterio = import_rasterio()
        self.name = path
        try:
            self.dataset = rasterio.open(path)
        except (rasterio.errors.RasterioError, OSError) as exc:
            raise ValueError(f'cannot read {path} as a raster: {exc}') \
                from exc
        ds = self.dataset
        self.height, self.width = ds.height, ds.width
        alpha = ds.colorinterp[-1] == rasterio.enums.ColorInterp.alpha
        try:
            keep, self.grey = select_channels(ds.count, channels, path,
                                              alpha)
        except ValueError:
            ds.close()
            raise
        # rasterio band indexes are 1-based; 3 bands are read as B, G, R.
        self.indexes = [i + 1 for i in keep]
        if len(self.indexes) == 3:
            self.indexes.reverse()
        self.georef = (ds.crs, ds.transform)
        self._window = rasterio.windows.Window

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` as float32 (rows, W, C)."""
        window = self._window(0, start, self.width, stop - start)
        block = self.dataset.read(self.indexes, window=window)
        block = to_float(np.moveaxis(block, 0, -1), self.name)
        return np.repeat(block, 3, axis=2) if self.grey else block

    def close(self) -> None:
        """Close the dataset."""
        self.dataset.close()


def read_image_file(path: str) -> np.ndarray:
    """Decode a PNG/JPG/... file as stored (BGR order for colour).

    Args:
        path (str): Image file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'image file not found: {path}')
    img = cv2.imdecode(np.fromfile(path, dtype=np.uint8),
                       cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f'cannot decode {path} as an image')
    return img


def open_source(image: ImageLike, name: str, channels: int):
    """Open one date as a source.

    Args:
        image (str | np.ndarray): Path or array (HxWxC, BGR for colour).
        name (str): Name for error messages when ``image`` is an array.
        channels (int): Channels of one date expected by the model.

    Returns:
        ArraySource | RasterSource: The source; call ``close()`` when done.
    """
    if isinstance(image, np.ndarray):
        return ArraySource(image, name, channels)
    path = str(image)
    if is_raster_path(path):
        if not osp.isfile(path):
            raise FileNotFoundError(f'raster file not found: {path}')
        return RasterSource(path, channels)
    return ArraySource(read_image_file(path), path, channels, alpha=True)


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
        raise ValueError(f'{src1.name} and {src2.name} do not form a pair: '
                         + '; '.join(problems))


def open_pair(img1: ImageLike, img2: ImageLike, channels: int,
              names: Optional[Tuple[str, str]] = None):
    """Open and check both dates.

    Args:
        img1 (str | np.ndarray): Date 1.
        img2 (str | np.ndarray): Date 2.
        channels (int): Channels of one date expected by the model.
        names (tuple[str, str], optional): Names of array inputs.

    Returns:
        tuple: The two sources (close them when done).
    """
    names = names or ('img1', 'img2')
    src1 = open_source(img1, names[0], channels)
    try:
        src2 = open_source(img2, names[1], channels)
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
