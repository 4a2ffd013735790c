"""Sinks of the blended rows: in-memory arrays, PNG files and GeoTIFFs."""
import os
import os.path as osp
from typing import Optional

import cv2
import numpy as np

from ..pixels import import_rasterio, is_raster_path


class ArrayWriter:
    """Collect the mask (and probability) in memory.

    Args:
        height (int): Image height.
        width (int): Image width.
        with_prob (bool): Also keep the float32 probability.
    """

    def __init__(self, height: int, width: int, with_prob: bool):
        self.mask = np.zeros((height, width), dtype=np.uint8)
        self.prob = np.zeros((height, width), dtype=np.float32) \
            if with_prob else None

    def write(self, start: int, mask: np.ndarray, prob: np.ndarray) -> None:
        """Store rows ``[start, start + len(mask))``."""
        self.mask[start:start + len(mask)] = mask
        if self.prob is not None:
            self.prob[start:start + len(prob)] = prob

    def close(self) -> None:
        """Nothing to flush."""


def _make_parent(path: str) -> None:
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)


def write_png(path: str, img: np.ndarray) -> None:
    """Write an image with OpenCV; raises if it cannot be written.

    Args:
        path (str): Output file (the suffix selects the format).
        img (np.ndarray): Image to write.
    """
    _make_parent(path)
    ok, data = cv2.imencode(osp.splitext(path)[1] or '.png', img)
    if not ok:
        raise ValueError(f'cannot encode an image for {path}')
    data.tofile(path)


class PngWriter(ArrayWriter):
    """Collect in memory, then write a 0/255 mask PNG and an 8-bit
    probability PNG (``round(255 * p)``).

    Args:
        height (int): Image height.
        width (int): Image width.
        out_file (str): Mask file.
        prob_file (str, optional): Probability file.
    """

    def __init__(self, height: int, width: int, out_file: str,
                 prob_file: Optional[str]):
        super().__init__(height, width, prob_file is not None)
        self.out_file, self.prob_file = out_file, prob_file

    def close(self) -> None:
        """Write the files."""
        write_png(self.out_file, self.mask * np.uint8(255))
        if self.prob_file is not None:
            write_png(self.prob_file,
                      np.round(self.prob * 255).astype(np.uint8))


class RasterWriter:
    """Write rows straight into GeoTIFFs (0/1 uint8 mask with a black/white
    colour map, optional float32 probability), carrying the inputs' CRS and
    geotransform. Nothing of the scene size is kept in memory.

    Args:
        height (int): Image height.
        width (int): Image width.
        georef (tuple, optional): ``(crs, transform)`` of the inputs; None
            writes a raster without georeferencing.
        out_file (str): Mask GeoTIFF.
        prob_file (str, optional): Probability GeoTIFF.
    """

    def __init__(self, height: int, width: int, georef, out_file: str,
                 prob_file: Optional[str]):
        rasterio = import_rasterio()
        self._window = rasterio.windows.Window
        profile = dict(driver='GTiff', height=height, width=width, count=1,
                       compress='deflate', BIGTIFF='IF_SAFER')
        if height >= 256 and width >= 256:
            profile.update(tiled=True, blockxsize=256, blockysize=256)
        if georef is not None:
            profile.update(crs=georef[0], transform=georef[1])
        self.width = width
        self.files = []
        _make_parent(out_file)
        self.mask = rasterio.open(out_file, 'w', dtype='uint8', **profile)
        self.files.append(self.mask)
        self.mask.write_colormap(1, {0: (0, 0, 0, 255),
                                     1: (255, 255, 255, 255)})
        self.prob = None
        if prob_file is not None:
            _make_parent(prob_file)
            self.prob = rasterio.open(prob_file, 'w', dtype='float32',
                                      **profile)
            self.files.append(self.prob)

    def write(self, start: int, mask: np.ndarray, prob: np.ndarray) -> None:
        """Write rows ``[start, start + len(mask))``."""
        window = self._window(0, start, self.width, len(mask))
        self.mask.write(mask, 1, window=window)
        if self.prob is not None:
            self.prob.write(prob, 1, window=window)

    def close(self) -> None:
        """Close (flush) the files."""
        for dataset in self.files:
            dataset.close()


def make_file_writer(out_file: str, prob_file: Optional[str], height: int,
                     width: int, georef):
    """GeoTIFF writer for a ``.tif``/``.tiff`` ``out_file``, PNG otherwise.

    Args:
        out_file (str): Mask file.
        prob_file (str, optional): Probability file (same format).
        height (int): Image height.
        width (int): Image width.
        georef (tuple, optional): ``(crs, transform)`` for GeoTIFF output.
    """
    if prob_file is not None and \
            is_raster_path(prob_file) != is_raster_path(out_file):
        raise ValueError(f'{out_file} and {prob_file}: write the mask and '
                         'the probability in the same format')
    if is_raster_path(out_file):
        return RasterWriter(height, width, georef, out_file, prob_file)
    return PngWriter(height, width, out_file, prob_file)
