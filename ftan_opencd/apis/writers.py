"""Sinks of the blended rows: in-memory arrays, PNG files and GeoTIFFs.

File writers write under a temporary name in the output folder and rename
on success (:meth:`close`), so an output file is always complete; a failed
run (:meth:`abort`) leaves nothing behind. While temporary files exist,
SIGTERM (a scheduler's stop, ``kill``) raises ``SystemExit(143)`` instead of
ending the process on the spot, so that the same clean-up runs; Ctrl-C
(SIGINT) already raises ``KeyboardInterrupt``. SIGKILL cannot be caught:
the next run that writes the same output reports the stale temporary file
and replaces it.
"""
import logging
import os
import os.path as osp
import signal
import sys
import threading
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.logging import print_log

from ..errors import UserError
from ..pixels import import_rasterio, is_raster_path
from ..utils.atomic_files import partial_path

# Mask value of pixels without valid data in a date.
NODATA = 255
MASK_SUFFIXES = ('.png', '.tif', '.tiff')


def check_output_files(out_file: str, prob_file: Optional[str],
                       inputs: Sequence) -> None:
    """Refuse outputs that would be lossy, unknown, or replace an input.

    Args:
        out_file (str): Mask file.
        prob_file (str, optional): Probability file.
        inputs (Sequence): The two inputs (paths or arrays).

    Raises:
        ValueError: Naming the file and the accepted suffixes.
    """
    sources = [osp.realpath(str(i)) for i in inputs
               if not isinstance(i, np.ndarray)]
    for path in (out_file, prob_file):
        if path is None:
            continue
        suffix = osp.splitext(str(path))[1].lower()
        if suffix not in MASK_SUFFIXES:
            raise UserError(
                f'{path}: masks are written as .png (0/255) or .tif/.tiff '
                f'(GeoTIFF 0/1, nodata {NODATA}); {suffix or "no suffix"} '
                'is lossy or unknown')
        if osp.realpath(str(path)) in sources:
            raise UserError(f'{path} is an input of this run; choose '
                             'another output file')
    if prob_file is not None and \
            is_raster_path(prob_file) != is_raster_path(out_file):
        raise UserError(f'{out_file} and {prob_file}: write the mask and '
                         'the probability in the same format')
    if prob_file is not None and \
            osp.realpath(prob_file) == osp.realpath(out_file):
        raise UserError(f'{out_file}: the mask and the probability need '
                         'two different files')


class TerminationGuard:
    """Turn SIGTERM into ``SystemExit(128 + SIGTERM)`` while it is active.

    Only where SIGTERM has its default action (ending the process without
    clean-up) and in the main thread: a handler the application installed
    is left alone. Re-entrant; ``release`` restores the default action.
    """

    def __init__(self):
        self.active = False

    @staticmethod
    def _terminate(signum, frame):
        name = signal.Signals(signum).name
        print(f'{name}: stopped; removing the unfinished output files',
              file=sys.stderr, flush=True)
        raise SystemExit(128 + signum)

    def acquire(self) -> None:
        """Install the handler (if SIGTERM has its default action)."""
        if self.active or \
                threading.current_thread() is not threading.main_thread() \
                or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        signal.signal(signal.SIGTERM, self._terminate)
        self.active = True

    def release(self) -> None:
        """Give SIGTERM its default action back."""
        if self.active:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            self.active = False

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc_info):
        self.release()


def claim_partial(path: str) -> str:
    """The temporary name of ``path``, reporting a stale one.

    A temporary file under that name is left by a run that was killed
    (SIGKILL, a node failure) while it wrote ``path``; it is replaced.

    Args:
        path (str): The final output file.

    Returns:
        str: :func:`partial_path` of ``path``.
    """
    partial = partial_path(path)
    if osp.exists(partial):
        print_log(
            f'{partial}: unfinished output of an interrupted run '
            f'({osp.getsize(partial)} bytes), replaced by this run',
            logger='current', level=logging.WARNING)
        os.remove(partial)
    return partial


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

    def abort(self) -> None:
        """Nothing to remove."""


def _make_parent(path: str) -> None:
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)


def write_png(path: str, img: np.ndarray) -> None:
    """Write an image with OpenCV, atomically; raises if it cannot.

    Args:
        path (str): Output file (the suffix selects the format).
        img (np.ndarray): Image to write.
    """
    _make_parent(path)
    ok, data = cv2.imencode(osp.splitext(path)[1] or '.png', img)
    if not ok:
        raise ValueError(f'cannot encode an image for {path}')
    with TerminationGuard():
        partial = claim_partial(path)
        try:
            data.tofile(partial)
            os.replace(partial, path)
        finally:
            if osp.exists(partial):
                os.remove(partial)


class PngWriter(ArrayWriter):
    """Collect in memory, then write a 0/255 mask PNG and an 8-bit
    probability PNG (``round(255 * p)``). PNG has no nodata: pixels
    without data are written 0, and a warning says how many.

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
        nodata = self.mask == NODATA
        if nodata.any():
            print_log(
                f'{self.out_file}: {int(nodata.sum())} pixels without data '
                'are written as 0 (PNG has no nodata; write a .tif to keep '
                'them apart)', logger='current', level=logging.WARNING)
        write_png(self.out_file,
                  np.where(nodata, 0, self.mask * np.uint8(255)))
        if self.prob_file is not None:
            prob = np.nan_to_num(self.prob, nan=0.0)
            write_png(self.prob_file, np.round(prob * 255).astype(np.uint8))


class RasterWriter:
    """Write rows straight into GeoTIFFs (0/1 uint8 mask with a black/white
    colour map and nodata 255, optional float32 probability with nodata
    NaN), carrying the inputs' CRS and geotransform. Nothing of the scene
    size is kept in memory.

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
        self.files = []  # (dataset, final path)
        self.guard = TerminationGuard()
        self.guard.acquire()
        try:
            _make_parent(out_file)
            self.mask = self._open(rasterio, out_file, 'uint8', NODATA,
                                   profile)
            self.mask.write_colormap(1, {0: (0, 0, 0, 255),
                                         1: (255, 255, 255, 255)})
            self.prob = None
            if prob_file is not None:
                _make_parent(prob_file)
                self.prob = self._open(rasterio, prob_file, 'float32',
                                       float('nan'), profile)
        except BaseException:
            self.abort()
            raise

    def _open(self, rasterio, path, dtype, nodata, profile):
        dataset = rasterio.open(claim_partial(path), 'w', dtype=dtype,
                                nodata=nodata, **profile)
        self.files.append((dataset, path))
        return dataset

    def write(self, start: int, mask: np.ndarray, prob: np.ndarray) -> None:
        """Write rows ``[start, start + len(mask))``."""
        window = self._window(0, start, self.width, len(mask))
        self.mask.write(mask, 1, window=window)
        if self.prob is not None:
            self.prob.write(prob, 1, window=window)

    def close(self) -> None:
        """Flush the files and give them their final names."""
        try:
            for dataset, path in self.files:
                dataset.close()
                os.replace(dataset.name, path)
        except BaseException:
            self.abort()
            raise
        self.guard.release()

    def abort(self) -> None:
        """Close and delete the unfinished files."""
        for dataset, _ in self.files:
            dataset.close()
            if osp.exists(dataset.name):
                os.remove(dataset.name)
        self.guard.release()


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
    if is_raster_path(out_file):
        return RasterWriter(height, width, georef, out_file, prob_file)
    return PngWriter(height, width, out_file, prob_file)
