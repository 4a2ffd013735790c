"""Bi-temporal image and change-label loading through the pixel rules.

Drop-in replacements for open-cd's ``MultiImgLoadImageFromFile`` and
``MultiImgLoadAnnotations`` that apply :mod:`ftan_opencd.pixels` (the same
rules as inference) and refuse bad data with an error naming the file.
"""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from opencd.registry import TRANSFORMS
from ...pixels import (conform_pair, decode, is_raster_path, load_label,
                       load_pair)


def _check_channels(channels: int) -> None:
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f'channels must be a positive int, got {channels!r}')


def _paths(results: dict, owner: str) -> list:
    paths = results.get('img_path')
    if not isinstance(paths, (list, tuple)) or len(paths) != 2:
        raise ValueError(f'{owner} expects results["img_path"] to be a list '
                         f'of two files (t1, t2), got {paths!r}')
    return list(paths)


def _set_images(results: dict, imgs: list, to_float32: bool) -> dict:
    if to_float32:
        imgs = [img.astype(np.float32, copy=False) for img in imgs]
    results['img'] = imgs
    results['img_shape'] = imgs[0].shape[:2]
    results['ori_shape'] = imgs[0].shape[:2]
    return results


@TRANSFORMS.register_module()
class CDLoadImagePair(BaseTransform):
    """Load the two dates of a sample by the pixel rules.

    Decoding, channel and value rules are those of :mod:`ftan_opencd.pixels`
    (grey replicated for a 3-channel model, a trailing alpha dropped, uint16
    divided by 257 into float32, GeoTIFFs read with rasterio). The two
    files must agree in size, channels and pixel type.

    Required Keys:

    - img_path (list[str]): the two image files (t1, t2).

    Modified Keys:

    - img (list[np.ndarray]): HxWx``channels``, uint8 (8-bit files) or
      float32, on 0..255.
    - img_shape, ori_shape (tuple[int, int])

    Args:
        channels (int): Channels per date the model takes (its
            ``in_channels``). Defaults to 3.
        max_value (float, optional): Full-scale value of the data, e.g.
            4095 for 12-bit data stored as uint16 (see
            :func:`ftan_opencd.pixels.scale_pixels`). Defaults to None.
        to_float32 (bool): Return float32 also for 8-bit files.
            Defaults to False.
    """

    def __init__(self,
                 channels: int = 3,
                 max_value: Optional[float] = None,
                 to_float32: bool = False) -> None:
        super().__init__()
        _check_channels(channels)
        if max_value is not None and not max_value > 0:
            raise ValueError(f'max_value must be positive, got {max_value}')
        self.channels = channels
        self.max_value = max_value
        self.to_float32 = to_float32

    def transform(self, results: dict) -> dict:
        """Load both images of ``results['img_path']``."""
        paths = _paths(results, type(self).__name__)
        imgs = load_pair(paths, self.channels, self.max_value)
        return _set_images(results, imgs, self.to_float32)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(channels={self.channels}, '
                f'max_value={self.max_value}, to_float32={self.to_float32})')


@TRANSFORMS.register_module()
class CDConformPixels(CDLoadImagePair):
    """Apply the pixel rules after open-cd's ``MultiImgLoadImageFromFile``.

    Test pipelines load with open-cd's own loader (``color_type=
    'unchanged'``), so that open-cd's ``OpenCDInferencer``, which looks for
    that loader, works with every config; this transform then gives the
    model exactly what ``CDLoadImagePair`` would: GeoTIFF files are read
    again with rasterio (rule 1), files decoded by OpenCV may carry alpha,
    arrays passed to the inferencer may not.

    Args:
        channels (int): Channels per date the model takes. Defaults to 3.
        max_value (float, optional): See ``CDLoadImagePair``.
        to_float32 (bool): See ``CDLoadImagePair``.
    """

    def transform(self, results: dict) -> dict:
        """Conform ``results['img']`` (two decoded images)."""
        paths = results.get('img_path') or [None, None]
        names = [p or f'input array {i + 1}' for i, p in enumerate(paths)]
        decoded = []
        for img, path, name in zip(results['img'], paths, names):
            if img is None:
                raise ValueError(f'cannot decode {name} as an image')
            if path is not None and is_raster_path(path):
                decoded.append(decode(path, self.channels))
            else:
                decoded.append((img, path is not None))
        imgs = conform_pair(decoded, names, self.channels, self.max_value)
        return _set_images(results, imgs, self.to_float32)


@TRANSFORMS.register_module()
class CDLoadChangeLabel(BaseTransform):
    """Load a binary change label by the label rule of
    :mod:`ftan_opencd.pixels`.

    {0, 255} and {0, 1} labels become 0 (unchanged) / 1 (changed); any other
    value is an error naming the file, unless ``label_threshold`` binarises
    on purpose. (open-cd's ``format_seg_map='to_binary'`` thresholds at 128
    and turns a 0/1 label into all zeros; this loader never guesses, so the
    dataset's ``format_seg_map`` is ignored.) Afterwards
    ``reduce_zero_label`` (0 -> 255 ignored, 1 -> 0) and the dataset's
    ``label_map`` are applied as mmseg does. Without ``seg_map_path``
    (unlabelled pairs, e.g. open-cd's inferencer) it does nothing.

    Required Keys:

    - seg_map_path (str, optional)
    - reduce_zero_label (bool, optional; must equal the argument)
    - label_map (dict, optional)

    Added Keys:

    - gt_seg_map (np.uint8, HxW)
    - seg_fields (``'gt_seg_map'`` appended)

    Args:
        label_threshold (float, optional): Changed where the label value
            (the brightest channel of a colour label) is >= this. Defaults
            to None (strict: only {0, 255} or {0, 1}).
        reduce_zero_label (bool): Mark "unchanged" (0) as ignored (255) and
            shift "changed" to 0. Must match the dataset's setting.
            Defaults to False.
    """

    def __init__(self,
                 label_threshold: Optional[float] = None,
                 reduce_zero_label: bool = False) -> None:
        super().__init__()
        self.label_threshold = label_threshold
        self.reduce_zero_label = reduce_zero_label

    def transform(self, results: dict) -> dict:
        """Load ``results['seg_map_path']`` into ``results['gt_seg_map']``.
        """
        path = results.get('seg_map_path')
        if path is None:
            return results
        dataset_reduce = results.get('reduce_zero_label',
                                     self.reduce_zero_label)
        if dataset_reduce != self.reduce_zero_label:
            raise ValueError(
                f'{type(self).__name__}(reduce_zero_label='
                f'{self.reduce_zero_label}) but the dataset was built with '
                f'reduce_zero_label={dataset_reduce}; set both to the same '
                'value')
        label = load_label(path, self.label_threshold)
        shape = results.get('img_shape')
        if shape is not None and tuple(label.shape) != tuple(shape[:2]):
            raise ValueError(
                f'change label {path} is {label.shape[0]}x{label.shape[1]} '
                f'but its images are {shape[0]}x{shape[1]}')
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
        return (f'{type(self).__name__}(label_threshold='
                f'{self.label_threshold}, reduce_zero_label='
                f'{self.reduce_zero_label})')
