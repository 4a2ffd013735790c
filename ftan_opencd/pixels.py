"""How an image file becomes the pixels a change detector sees.

The one home of these rules. Every path uses them: the training and test
loaders (``CDLoadImagePair``, ``CDConformPixels``), inference
(:mod:`ftan_opencd.apis.sources`), the error-map panels and the data
preparation tools. ``channels`` is what the model takes per date (its
``backbone_inchannels``).

1. **Decoding.** PNG, JPEG, BMP, ...: OpenCV, unchanged (B, G, R[, A]
   order; 8 or 16 bit; grey as one channel). ``.tif``/``.tiff``: rasterio
   (when installed; OpenCV otherwise), all bands in file order, except that
   a 3-band raster is reversed to B, G, R, which is what OpenCV returns for
   the same RGB file: a GeoTIFF and a PNG of one image give equal pixels.
2. **Channels.** Stored == ``channels``: kept. One stored, 3 wanted: the
   grey channel is replicated. ``channels + 1`` stored and the last one is
   alpha (a 4-channel PNG/JPEG/BMP is BGRA by format; a GeoTIFF band only
   when its colour interpretation says alpha): alpha is dropped. Anything
   else (e.g. a 4-band RGB+NIR GeoTIFF for a 3-channel model, or a grey
   date for a 4-band model) is refused, naming the file. Arrays given to
   the API carry no alpha flag, so an extra channel is refused too.
3. **Values** (:func:`scale_pixels`): the model is trained on 0..255.
   uint8 is used as is; uint16 is divided by 257 (0..65535 onto 0..255;
   never rounded, the same divisor for both dates); float is taken to be
   on 0..255 already. ``max_value`` states the sensor's range instead
   (4095 for 12-bit data in uint16 files, 1.0 for reflectance): pixels are
   multiplied by ``255 / max_value``. A value above the range is an error
   naming the option.
4. **Invalid pixels** (:func:`valid_pixels`, inference): a pixel is
   invalid where any band is NaN or infinite, or where all bands equal the
   nodata value (declared by a GeoTIFF, or given as ``nodata``). Where
   either date is invalid both dates are filled with 0 for the model, and
   the prediction there is nodata (255 in the mask, NaN in the
   probability). Values that look like another scale (uint16 data within
   0..4095, float data within 0..1 or above 255) give a
   :class:`PixelScaleWarning` naming ``max_value``, which is also logged
   (mmengine's current logger, warning level), so that it reaches the log
   files and survives ``PYTHONWARNINGS=ignore``.
5. **Labels** (:func:`binary_label`): a change label holds {0, 255} or
   {0, 1} (a palette PNG: its indices; the alpha channel of a 4-channel
   label is dropped); a colour label whose channels are equal is read as
   grey. Any other value is an error unless ``label_threshold`` is given,
   which binarises on purpose: changed where the value (the brightest
   channel of a colour label) is >= the threshold.
"""
import logging
import os.path as osp
import warnings
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log

from .errors import UserError

UINT16_TO_UINT8 = 257.0
RASTER_SUFFIXES = ('.tif', '.tiff')
MAX_LISTED_VALUES = 10
# Float data without max_value is taken to be on 0..FLOAT_FULL_SCALE.
FLOAT_FULL_SCALE = 255.0
MAX_LOGGED_SCALE_WARNINGS = 10
_LOGGED_SCALE_WARNINGS = set()
SCALE_HINT = ('set max_value (e.g. 4095 for 12-bit data, 1.0 for '
              'reflectance; --max-value on the tools)')


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


def is_raster_path(path) -> bool:
    """True for a path read and written with rasterio (.tif/.tiff)."""
    return isinstance(path, str) and \
        osp.splitext(path)[1].lower() in RASTER_SUFFIXES


def _rasterio_available() -> bool:
    try:
        import_rasterio()
    except ImportError:
        return False
    return True


def raster_bands(dataset, channels: int, name: str) -> Tuple[List[int], bool]:
    """rasterio band indexes (1-based) to read, and whether to replicate
    a grey band, for a model taking ``channels`` per date (rules 1-2).

    Args:
        dataset: An open rasterio dataset.
        channels (int): Channels per date of the model.
        name (str): File name for messages.
    """
    rasterio = import_rasterio()
    alpha = dataset.colorinterp[-1] == rasterio.enums.ColorInterp.alpha
    keep, grey = select_channels(dataset.count, channels, name, alpha)
    indexes = [i + 1 for i in keep]
    if len(indexes) == 3:
        indexes.reverse()
    return indexes, grey


def select_channels(stored: int, wanted: int, name: str,
                    last_is_alpha: bool) -> Tuple[List[int], bool]:
    """Channels to keep for a model taking ``wanted`` channels (rule 2).

    Args:
        stored (int): Channels in the source.
        wanted (int): Channels of one date expected by the model.
        name (str): Source name for error messages.
        last_is_alpha (bool): The last stored channel is an alpha channel.

    Returns:
        tuple: Indices of the channels to keep and whether a single grey
        channel has to be replicated to 3.

    Raises:
        ValueError: Naming the source and both channel counts.
    """
    if stored == wanted:
        return list(range(stored)), False
    if stored == 1 and wanted == 3:
        return [0], True
    if stored == wanted + 1 and last_is_alpha:
        return list(range(wanted)), False
    raise UserError(
        f'{name} has {stored} channel(s) but the model takes {wanted} per '
        'date (in_channels); only a grey image for a 3-channel model and a '
        'trailing alpha channel are converted')


def scale_pixels(block: np.ndarray, name: str,
                 max_value: Optional[float] = None) -> np.ndarray:
    """Stored values to the model's 0..255 scale (rule 3).

    Args:
        block (np.ndarray): Pixels as stored.
        name (str): Source name for error messages.
        max_value (float, optional): The data's full-scale value; None
            means 255 for uint8 and float data, 65535 for uint16.

    Returns:
        np.ndarray: uint8 (uint8 input without ``max_value``) or float32.

    Raises:
        ValueError: Unsupported dtype, or values above ``max_value``.
    """
    if max_value is not None and not max_value > 0:
        raise UserError(f'max_value must be positive, got {max_value}')
    if block.dtype == np.uint8 and max_value in (None, 255):
        return block
    if block.dtype not in (np.uint8, np.uint16) and \
            not np.issubdtype(block.dtype, np.floating):
        raise UserError(f'{name}: unsupported pixel type {block.dtype}; '
                         'use uint8, uint16 or float data')
    if max_value is None:
        if block.dtype == np.uint16:
            return block.astype(np.float32) / UINT16_TO_UINT8
        return block.astype(np.float32, copy=False)
    if block.size and np.nanmax(block) > max_value:
        raise UserError(
            f'{name} has values up to {np.nanmax(block)} but max_value is '
            f'{max_value}; {SCALE_HINT}')
    return block.astype(np.float32) * np.float32(255.0 / max_value)


class PixelScaleWarning(UserWarning):
    """The pixel values look like another scale than the one assumed."""


def check_scale(sample: np.ndarray, name: str,
                max_value: Optional[float] = None) -> None:
    """Warn when values look like another scale than the one assumed.

    The :class:`PixelScaleWarning` is also logged (the first
    :data:`MAX_LOGGED_SCALE_WARNINGS` distinct messages of a process, so
    that a data set of such images does not flood the training log).

    Args:
        sample (np.ndarray): The image, or a decimated read of it.
        name (str): Source name for the message.
        max_value (float, optional): The user's full-scale value; given,
            nothing is guessed.
    """
    if max_value is not None or sample.dtype == np.uint8 or not sample.size:
        return
    finite = sample[np.isfinite(sample)] if sample.dtype.kind == 'f' \
        else sample
    if not finite.size:
        return
    peak = float(finite.max())
    if sample.dtype == np.uint16 and 0 < peak <= 4095:
        guess = ('if it is 12-bit (or less) data in a 16-bit file, the '
                 f'default scale maps it to 0..{peak / UINT16_TO_UINT8:.3g} '
                 'instead of 0..255')
    elif sample.dtype.kind == 'f' and 0 < peak <= 1.0:
        guess = ('if it is on a 0..1 scale (reflectance?), the default '
                 f'scale maps it to 0..{peak:.3g} instead of 0..255')
    elif sample.dtype.kind == 'f' and peak > FLOAT_FULL_SCALE:
        guess = ('float data is taken to be on 0..255 already, so the model '
                 f'sees values up to {peak / FLOAT_FULL_SCALE:.3g} times '
                 'the range it was trained on')
    else:
        return
    message = (f'{name}: the largest value is {peak:g}; {guess} and the '
               f'prediction is meaningless: {SCALE_HINT}')
    warnings.warn(message, PixelScaleWarning, stacklevel=3)
    _log_scale_warning(message)


def _log_scale_warning(message: str) -> None:
    """Log a scale warning once per process, up to
    :data:`MAX_LOGGED_SCALE_WARNINGS` distinct messages."""
    if message in _LOGGED_SCALE_WARNINGS or \
            len(_LOGGED_SCALE_WARNINGS) > MAX_LOGGED_SCALE_WARNINGS:
        return
    _LOGGED_SCALE_WARNINGS.add(message)
    if len(_LOGGED_SCALE_WARNINGS) > MAX_LOGGED_SCALE_WARNINGS:
        message = (f'more than {MAX_LOGGED_SCALE_WARNINGS} images look like '
                   'another scale; the others are not logged')
    print_log(f'PixelScaleWarning: {message}', logger='current',
              level=logging.WARNING)


def valid_pixels(block: np.ndarray,
                 nodata: Optional[float] = None) -> np.ndarray:
    """``(rows, W)`` bool: finite in every band and not nodata in all.

    Args:
        block (np.ndarray): ``(rows, W, C)`` pixels as stored.
        nodata (float, optional): The nodata value.
    """
    valid = np.ones(block.shape[:2], dtype=bool)
    if block.dtype.kind == 'f':
        valid &= np.isfinite(block).all(axis=2)
    if nodata is not None:
        if np.isnan(nodata):
            valid &= ~np.isnan(block).all(axis=2)
        else:
            valid &= ~(block == nodata).all(axis=2)
    return valid


def conform(img: np.ndarray,
            channels: int,
            name: str,
            last_is_alpha: bool = False,
            max_value: Optional[float] = None) -> np.ndarray:
    """Apply the channel and value rules to a decoded image.

    Args:
        img (np.ndarray): HxW or HxWxC pixels as decoded.
        channels (int): Channels per date of the model.
        name (str): Source name for error messages.
        last_is_alpha (bool): The last channel is alpha (rule 2).
        max_value (float, optional): See :func:`scale_pixels`.

    Returns:
        np.ndarray: HxWx``channels``, uint8 or float32 on 0..255.
    """
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise UserError(f'{name}: expected an HxW or HxWxC image, got '
                         f'shape {img.shape}')
    keep, grey = select_channels(img.shape[2], channels, name,
                                 last_is_alpha)
    img = scale_pixels(img[..., keep], name, max_value)
    if grey:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img)


def decode_file(path: str) -> np.ndarray:
    """Decode an image file with OpenCV exactly as stored (rule 1).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is empty or not a decodable image.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'image file not found: {path}')
    content = np.fromfile(path, dtype=np.uint8)
    if content.size == 0:
        raise UserError(f'image file is empty: {path}')
    img = cv2.imdecode(content, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserError(f'cannot decode {path} as an image (corrupt or '
                         'not an image file)')
    return img


def read_raster(path: str, channels: int) -> np.ndarray:
    """All rows of a GeoTIFF, bands selected by rule 2 (stored dtype)."""
    rasterio = import_rasterio()
    try:
        dataset = rasterio.open(path)
    except (rasterio.errors.RasterioError, OSError) as exc:
        raise UserError(f'cannot read {path} as a raster: {exc}') from exc
    with dataset:
        indexes, grey = raster_bands(dataset, channels, path)
        img = np.moveaxis(dataset.read(indexes), 0, -1)
    return np.repeat(img, 3, axis=2) if grey else img


def decode(path: str, channels: int) -> Tuple[np.ndarray, bool]:
    """Decode a file by rule 1: the pixels and whether the last channel is
    alpha (GeoTIFF bands come already selected by rule 2)."""
    if is_raster_path(path) and _rasterio_available():
        if not osp.isfile(path):
            raise FileNotFoundError(f'image file not found: {path}')
        return read_raster(path, channels), False
    return decode_file(path), True


def load_image(path: str,
               channels: int,
               max_value: Optional[float] = None) -> np.ndarray:
    """Read an image file as the model sees it (rules 1-3).

    Args:
        path (str): Image file.
        channels (int): Channels per date of the model.
        max_value (float, optional): See :func:`scale_pixels`.

    Returns:
        np.ndarray: HxWx``channels``, uint8 or float32 on 0..255.
    """
    img, alpha = decode(path, channels)
    return conform(img, channels, path, alpha, max_value)


def conform_pair(decoded: Sequence[Tuple[np.ndarray, bool]],
                 names: Sequence[str],
                 channels: int,
                 max_value: Optional[float] = None) -> List[np.ndarray]:
    """Both dates, decoded as ``(pixels, last_is_alpha)``, as the model sees
    them: they must agree in size, channels and pixel type, and their value
    range is checked (rules 2-4)."""
    check_same_format([img for img, _ in decoded], names)
    for (img, _), name in zip(decoded, names):
        check_scale(img, name, max_value)
    return [
        conform(img, channels, name, alpha, max_value)
        for (img, alpha), name in zip(decoded, names)
    ]


def load_pair(paths: Sequence[str],
              channels: int,
              max_value: Optional[float] = None) -> List[np.ndarray]:
    """Both dates of a sample, read from files, as the model sees them."""
    return conform_pair([decode(path, channels) for path in paths], paths,
                        channels, max_value)


def _present_values(label: np.ndarray) -> List[int]:
    """Sorted distinct values of an integer label map."""
    if label.dtype == np.uint8:
        return np.flatnonzero(np.bincount(label.ravel(),
                                          minlength=256)).tolist()
    return np.unique(label).tolist()


def binary_label(label: np.ndarray, name: str,
                 threshold: Optional[float] = None) -> np.ndarray:
    """A change label as uint8 {0, 1} (rule 4).

    Args:
        label (np.ndarray): HxW or HxWxC label as decoded.
        name (str): Label file for messages.
        threshold (float, optional): Binarise on purpose: changed where the
            value (brightest channel) is >= threshold.

    Raises:
        ValueError: Naming the file, the values found and the option.
    """
    if label.ndim == 3:
        equal = all(
            np.array_equal(label[..., 0], label[..., c])
            for c in range(1, label.shape[2]))
        if equal:
            label = label[..., 0]
        elif threshold is not None:
            label = label.max(axis=2)
        else:
            raise UserError(
                f'change label {name} has {label.shape[2]} channels with '
                'different content; expected a grey label (or set '
                'label_threshold to binarise its brightest channel)')
    if threshold is not None:
        return (label >= threshold).astype(np.uint8)
    values = _present_values(label)
    if set(values) <= {0, 255}:
        return (label == 255).astype(np.uint8)
    if set(values) <= {0, 1}:
        return label.astype(np.uint8)
    offending = [v for v in values if v not in (0, 1, 255)]
    reason = (f'invalid values {offending[:MAX_LISTED_VALUES]}'
              if offending else 'a mix of 1 and 255')
    raise UserError(
        f'change label {name} contains {reason} (values present: '
        f'{values[:MAX_LISTED_VALUES]}); a binary change label holds only '
        '{0, 255} or {0, 1}. To binarise on purpose set label_threshold '
        '(e.g. 128: changed where value >= 128; --label-threshold on the '
        'tools)')


def decode_label(path: str) -> np.ndarray:
    """Decode a label file: a palette PNG gives its palette indices (as
    mmseg reads labels), any other file its values as stored (rule 1)."""
    img = decode_file(path)
    if img.ndim == 3 and osp.splitext(path)[1].lower() == '.png':
        from PIL import Image
        with Image.open(path) as image:
            if image.mode == 'P':
                return np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 4:
        return img[..., :3]  # BGRA by format: alpha is not a label value
    return img


def load_label(path: str, threshold: Optional[float] = None) -> np.ndarray:
    """Read a change label file as uint8 {0, 1} (rules 1 and 4)."""
    return binary_label(decode_label(path), path, threshold)


def display_image(img: np.ndarray) -> np.ndarray:
    """uint8 BGR image for display from model pixels (first 3 channels;
    one channel as grey)."""
    img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = img[..., None]
    return np.repeat(img[..., :1], 3, axis=2) if img.shape[2] < 3 else \
        np.ascontiguousarray(img[..., :3])


def check_same_format(imgs: Sequence[np.ndarray],
                      names: Sequence[str]) -> None:
    """Refuse two dates whose size, channels or pixel type differ."""
    shapes = [img.shape if img.ndim == 3 else img.shape + (1, )
              for img in imgs]
    if shapes[0] != shapes[1] or imgs[0].dtype != imgs[1].dtype:
        raise UserError(
            'the two dates must have the same size, channels and pixel '
            f'type: {names[0]} is {shapes[0]} {imgs[0].dtype}, {names[1]} '
            f'is {shapes[1]} {imgs[1].dtype}')
