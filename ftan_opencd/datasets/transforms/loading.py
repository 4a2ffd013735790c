"""Checked loaders for bi-temporal image pairs and binary change labels.

Drop-in replacements for open-cd's ``MultiImgLoadImageFromFile`` and
``MultiImgLoadAnnotations`` that refuse bad data with an error naming the
file instead of training on silently wrong inputs.
"""
from typing import List, Optional

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform

from opencd.registry import TRANSFORMS

# 65535 / 257 == 255: maps the full 16-bit range onto the full 8-bit range.
UINT16_TO_UINT8 = 257.0
MAX_LISTED_VALUES = 10


def read_image_file(path: str,
                    backend: str,
                    backend_args: Optional[dict] = None) -> np.ndarray:
    """Read and decode an image exactly as stored (``flag='unchanged'``).

    Args:
        path (str): Image file.
        backend (str): Decoding backend of :func:`mmcv.imfrombytes`.
        backend_args (dict, optional): mmengine file backend arguments.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file cannot be read or decoded.
    """
    try:
        content = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f'file not found: {path}') from exc
    except OSError as exc:
        raise ValueError(f'cannot read file {path}: {exc}') from exc
    if not content:
        raise ValueError(f'file is empty: {path}')
    try:
        img = mmcv.imfrombytes(content, flag='unchanged', backend=backend)
    except Exception as exc:  # noqa: BLE001 - decoders raise many types
        raise ValueError(f'cannot decode {path} as an image: {exc}') from exc
    if img is None:
        raise ValueError(f'cannot decode {path} as an image '
                         '(corrupt or not an image file)')
    return img


def _num_channels(img: np.ndarray) -> int:
    return 1 if img.ndim == 2 else img.shape[2]


@TRANSFORMS.register_module()
class CDLoadImagePair(BaseTransform):
    """Load the two dates of a change-detection sample with checks.

    Every file is decoded as stored, then converted:

    - ``color_type='color'``: the result is HxWx3 BGR. Grey images are
      replicated to 3 channels, the alpha channel of 4-channel (BGRA)
      images is dropped; other channel counts are refused.
    - ``color_type='unchanged'``: channels are kept as stored (HxW for grey,
      HxWxC otherwise, e.g. multispectral TIFF).

    16-bit images are converted with the fixed rule ``value / 257`` (maps
    0..65535 onto 0..255; the same rule for every image, so both dates keep
    comparable radiometry), rounded to uint8, or kept unrounded as float32
    when ``to_float32=True``. 12-bit data stored in 16-bit files therefore
    ends up in 0..16; rescale such data offline. Other dtypes are refused.
    With ``imdecode_backend='pillow'`` Pillow itself reduces 16-bit colour
    files to 8 bits, so use 'cv2' (or 'tifffile') for 16-bit colour data.

    Required Keys:

    - img_path (list[str]): the two image files (t1, t2).

    Modified Keys:

    - img (list[np.ndarray]): the two images.
    - img_shape (tuple[int, int])
    - ori_shape (tuple[int, int])

    Args:
        to_float32 (bool): Return float32 images (values in [0, 255])
            instead of uint8. Defaults to False.
        color_type (str): 'color' or 'unchanged', see above.
            Defaults to 'color'.
        imdecode_backend (str): Backend of :func:`mmcv.imfrombytes`.
            Defaults to 'cv2'.
        allow_16bit (str): 'rescale' converts 16-bit images as described
            above; 'error' refuses them. Defaults to 'rescale'.
        expected_channels (int, optional): Number of channels each file
            must store (1 grey, 3 colour, 4 with alpha, ...), checked before
            any conversion. Defaults to None (no check).
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
    """

    COLOR_TYPES = ('color', 'unchanged')
    SIXTEEN_BIT_MODES = ('rescale', 'error')

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 imdecode_backend: str = 'cv2',
                 allow_16bit: str = 'rescale',
                 expected_channels: Optional[int] = None,
                 backend_args: Optional[dict] = None) -> None:
        super().__init__()
        if color_type not in self.COLOR_TYPES:
            raise ValueError(f'color_type must be one of {self.COLOR_TYPES}, '
                             f'got {color_type!r}')
        if allow_16bit not in self.SIXTEEN_BIT_MODES:
            raise ValueError('allow_16bit must be one of '
                             f'{self.SIXTEEN_BIT_MODES}, got {allow_16bit!r}')
        if expected_channels is not None and expected_channels < 1:
            raise ValueError('expected_channels must be positive, got '
                             f'{expected_channels}')
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.allow_16bit = allow_16bit
        self.expected_channels = expected_channels
        self.backend_args = backend_args.copy() if backend_args else None

    def _to_color(self, img: np.ndarray, path: str) -> np.ndarray:
        """Convert a stored image to HxWx3 (grey replicated, alpha dropped).
        """
        channels = _num_channels(img)
        if channels == 1:
            return np.repeat(img.reshape(img.shape[:2] + (1, )), 3, axis=2)
        if channels in (3, 4):
            return img[..., :3]
        raise ValueError(f'{path} has {channels} channels; '
                         "color_type='color' accepts 1 (grey), 3 or 4 "
                         "(alpha dropped). Use color_type='unchanged' for "
                         'multispectral images')

    def _convert_dtype(self, img: np.ndarray, path: str) -> np.ndarray:
        """Return uint8 (or float32 with ``to_float32``) values in [0, 255].
        """
        if img.dtype == np.uint8:
            return img.astype(np.float32) if self.to_float32 else img
        if img.dtype != np.uint16:
            raise ValueError(f'{path} has unsupported pixel type {img.dtype}; '
                             'expected 8-bit or 16-bit unsigned integers')
        if self.allow_16bit == 'error':
            raise ValueError(f'{path} is a 16-bit image and allow_16bit='
                             "'error'; convert it to 8 bits or set "
                             "allow_16bit='rescale' (value / 257)")
        scaled = img.astype(np.float32) / UINT16_TO_UINT8
        if self.to_float32:
            return scaled
        return np.rint(scaled).astype(np.uint8)

    def load(self, path: str) -> np.ndarray:
        """Load, check and convert one image file.

        Args:
            path (str): Image file.
        """
        img = read_image_file(path, self.imdecode_backend, self.backend_args)
        channels = _num_channels(img)
        if self.expected_channels is not None and \
                channels != self.expected_channels:
            raise ValueError(f'{path} has {channels} channels, expected '
                             f'{self.expected_channels}')
        if self.color_type == 'color':
            img = self._to_color(img, path)
        return np.ascontiguousarray(self._convert_dtype(img, path))

    def transform(self, results: dict) -> dict:
        """Load both images of ``results['img_path']``.

        Args:
            results (dict): Result dict with ``img_path`` (two files).
        """
        paths = results.get('img_path')
        if not isinstance(paths, (list, tuple)) or len(paths) != 2:
            raise ValueError('CDLoadImagePair expects results["img_path"] to '
                             f'be a list of two files (t1, t2), got {paths!r}')
        imgs: List[np.ndarray] = [self.load(path) for path in paths]
        if imgs[0].shape != imgs[1].shape:
            raise ValueError(
                'the two dates of a sample must have the same size and '
                f'channels: {paths[0]} has shape {imgs[0].shape} but '
                f'{paths[1]} has shape {imgs[1].shape}')
        results['img'] = imgs
        results['img_shape'] = imgs[0].shape[:2]
        results['ori_shape'] = imgs[0].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', "
                f"imdecode_backend='{self.imdecode_backend}', "
                f"allow_16bit='{self.allow_16bit}', "
                f'expected_channels={self.expected_channels}, '
                f'backend_args={self.backend_args})')


def _present_values(label: np.ndarray) -> List[int]:
    """Sorted distinct values of an integer label map."""
    if label.dtype == np.uint8:
        return np.flatnonzero(np.bincount(label.ravel(),
                                          minlength=256)).tolist()
    return np.unique(label).tolist()


@TRANSFORMS.register_module()
class CDLoadChangeLabel(BaseTransform):
    """Load a binary change label, accepting only {0, 255} or {0, 1} values.

    Label files whose values are a subset of {0, 255} (LEVIR-CD style) or of
    {0, 1} are both mapped to 0 (unchanged) / 1 (changed). Any other value,
    or a mix of 1 and 255, raises a ValueError naming the file and the
    values. (open-cd's ``format_seg_map='to_binary'`` thresholds at 128 and
    turns a 0/1 label into all zeros; this loader never guesses, so the
    dataset's ``format_seg_map`` is ignored.) A 3-channel label is accepted
    when its channels are equal (one channel is used); other multi-channel
    labels are refused. Palette PNGs give their indices with the default
    'pillow' backend. Afterwards ``reduce_zero_label`` (0 -> 255 ignored,
    1 -> 0) and the dataset's ``label_map`` are applied like mmseg does.

    Required Keys:

    - seg_map_path (str)
    - seg_fields (list, optional; created when missing)
    - reduce_zero_label (bool, optional; must equal the argument)
    - label_map (dict, optional)

    Added Keys:

    - gt_seg_map (np.uint8, HxW)
    - seg_fields (``'gt_seg_map'`` appended)

    Args:
        reduce_zero_label (bool): Mark "unchanged" (0) as ignored (255) and
            shift "changed" to 0. Must match the dataset's setting.
            Defaults to False.
        imdecode_backend (str): Backend of :func:`mmcv.imfrombytes`.
            Defaults to 'pillow'.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
    """

    def __init__(self,
                 reduce_zero_label: bool = False,
                 imdecode_backend: str = 'pillow',
                 backend_args: Optional[dict] = None) -> None:
        super().__init__()
        self.reduce_zero_label = reduce_zero_label
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args.copy() if backend_args else None

    @staticmethod
    def _single_channel(label: np.ndarray, path: str) -> np.ndarray:
        """Return an HxW label, accepting colour files with equal channels.
        """
        if label.ndim == 2:
            return label
        channels = label.shape[2]
        if channels == 1:
            return label[..., 0]
        if channels == 3 and all(
                np.array_equal(label[..., 0], label[..., c]) for c in (1, 2)):
            return label[..., 0]
        raise ValueError(f'change label {path} has {channels} channels with '
                         'different content; expected a single-channel '
                         '(grey) label or a colour label with equal channels')

    @staticmethod
    def _binarise(label: np.ndarray, path: str) -> np.ndarray:
        """Map a {0, 255} or {0, 1} label to uint8 {0, 1}."""
        values = _present_values(label)
        if set(values) <= {0, 255}:
            return (label == 255).astype(np.uint8)
        if set(values) <= {0, 1}:
            return label.astype(np.uint8)
        offending = [v for v in values if v not in (0, 1, 255)]
        reason = (f'invalid values {offending[:MAX_LISTED_VALUES]}'
                  if offending else 'a mix of 1 and 255')
        raise ValueError(
            f'change label {path} contains {reason} (values present: '
            f'{values[:MAX_LISTED_VALUES]}); a binary change label must only '
            'contain {0, 255} or {0, 1}')

    def transform(self, results: dict) -> dict:
        """Load ``results['seg_map_path']`` into ``results['gt_seg_map']``.

        Args:
            results (dict): Result dict with ``seg_map_path``.
        """
        dataset_reduce = results.get('reduce_zero_label',
                                     self.reduce_zero_label)
        if dataset_reduce != self.reduce_zero_label:
            raise ValueError(
                f'{type(self).__name__}(reduce_zero_label='
                f'{self.reduce_zero_label}) but the dataset was built with '
                f'reduce_zero_label={dataset_reduce}; set both to the same '
                'value')
        path = results['seg_map_path']
        raw = read_image_file(path, self.imdecode_backend, self.backend_args)
        label = self._binarise(self._single_channel(raw, path), path)
        if self.reduce_zero_label:
            label = np.where(label == 0, 255, 0).astype(np.uint8)
        label_map = results.get('label_map')
        if label_map:
            mapped = label.copy()
            for old_id, new_id in label_map.items():
                mapped[label == old_id] = new_id
            label = mapped
        results['gt_seg_map'] = label
        seg_fields = results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in seg_fields:
            seg_fields.append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(reduce_zero_label='
                f'{self.reduce_zero_label}, '
                f"imdecode_backend='{self.imdecode_backend}', "
                f'backend_args={self.backend_args})')
