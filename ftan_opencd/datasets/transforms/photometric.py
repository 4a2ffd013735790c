"""Photometric augmentations for bi-temporal image pairs (FTAN/ChangeFormer).

Both transforms read ``results['img']`` (a list of HxWxC arrays, BGR, values
in [0, 255], dtype uint8 or float32) and leave ``gt_seg_map`` untouched. The
output keeps the input dtype. Random numbers come from ``np.random`` (like
mmcv's transforms), so mmengine's ``randomness=dict(seed=...)`` makes them
reproducible.
"""
import math
import numbers
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from opencd.registry import TRANSFORMS

# torchvision's grayscale weights (ITU-R 601), listed in BGR order.
GRAY_WEIGHTS_BGR = np.array([0.114, 0.587, 0.2989], dtype=np.float32)
MAX_VALUE = 255.0

Range = Optional[Tuple[float, float]]


def _image_list(results: dict, name: str) -> List[np.ndarray]:
    """Return ``results['img']`` after checking that it is a list of arrays
    of a dtype the photometric transforms support."""
    imgs = results.get('img')
    if not isinstance(imgs, (list, tuple)):
        raise TypeError(f'{name} expects results["img"] to be a list of '
                        f'images (one per date), got {type(imgs).__name__}')
    for img in imgs:
        if img.dtype not in (np.uint8, np.float32):
            raise TypeError(f'{name} supports uint8 or float32 images in '
                            f'[0, 255], got dtype {img.dtype}')
    return list(imgs)


def _restore_dtype(img: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Clip a float image to [0, 255] and cast it back to ``dtype``
    (rounding to the nearest integer for uint8)."""
    img = np.clip(img, 0.0, MAX_VALUE)
    if dtype == np.uint8:
        return np.rint(img).astype(np.uint8)
    return img.astype(dtype)


@TRANSFORMS.register_module()
class BitemporalGaussianBlur(BaseTransform):
    """Blur both dates of a pair with one random Gaussian radius.

    Follows the FTAN/ChangeFormer augmentation, which draws one radius
    ``r ~ U(radius_range)`` per sample and applies PIL's
    ``ImageFilter.GaussianBlur(r)`` to both images. PIL's radius is the
    standard deviation of the Gaussian; here the blur is computed with
    ``cv2.GaussianBlur`` using ``sigma = r``, a kernel of size
    ``2 * ceil(3 * r) + 1`` (covers +-3 sigma) and replicated borders (as PIL
    extends edges). PIL approximates the Gaussian with repeated box blurs, so
    results differ from PIL by well under one grey level on average. A radius
    of 0 returns the images unchanged. Any number of channels is supported.

    Required Keys:

    - img

    Modified Keys:

    - img

    Args:
        radius_range (tuple[float, float]): Range ``(low, high)`` of the
            uniformly drawn radius (Gaussian sigma, in pixels).
            Defaults to (0., 1.).
        prob (float): Probability of blurring a sample. Defaults to 1.0.
    """

    def __init__(self,
                 radius_range: Tuple[float, float] = (0., 1.),
                 prob: float = 1.0) -> None:
        super().__init__()
        if len(radius_range) != 2 or not \
                0 <= radius_range[0] <= radius_range[1]:
            raise ValueError('radius_range must be (low, high) with '
                             f'0 <= low <= high, got {radius_range}')
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.radius_range = tuple(float(r) for r in radius_range)
        self.prob = prob

    @cache_randomness
    def _draw_radius(self) -> float:
        """Draw the radius shared by both dates (0 means no blur)."""
        if np.random.rand() >= self.prob:
            return 0.
        return float(np.random.uniform(*self.radius_range))

    @staticmethod
    def blur(img: np.ndarray, radius: float) -> np.ndarray:
        """Gaussian-blur one image with standard deviation ``radius``.

        Args:
            img (np.ndarray): HxW or HxWxC image.
            radius (float): Standard deviation of the Gaussian, in pixels.
        """
        if radius <= 0:
            return img
        ksize = 2 * math.ceil(3 * radius) + 1
        return cv2.GaussianBlur(
            img, (ksize, ksize),
            sigmaX=radius,
            sigmaY=radius,
            borderType=cv2.BORDER_REPLICATE)

    def transform(self, results: dict) -> dict:
        """Blur every image of ``results['img']`` with the same radius.

        Args:
            results (dict): Result dict with the image pair in ``img``.
        """
        imgs = _image_list(results, type(self).__name__)
        radius = self._draw_radius()
        results['img'] = [self.blur(img, radius) for img in imgs]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(radius_range={self.radius_range}, '
                f'prob={self.prob})')


def _jitter_range(name: str,
                  value: Union[float, Sequence[float]],
                  center: float = 1.,
                  bound: Tuple[float, float] = (0., math.inf),
                  clip_low_at_zero: bool = True) -> Range:
    """Turn a ColorJitter argument into a sampling range like torchvision.

    A number ``v`` gives ``[center - v, center + v]`` (low end clipped at 0
    for multiplicative factors); a pair is taken as ``(min, max)``. Returns
    None when the range is the single point ``center`` (operation disabled).
    """
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f'{name} must be non-negative, got {value}')
        low, high = center - float(value), center + float(value)
        if clip_low_at_zero:
            low = max(low, 0.)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        low, high = float(value[0]), float(value[1])
    else:
        raise TypeError(f'{name} must be a number or a (min, max) pair, '
                        f'got {value!r}')
    if not bound[0] <= low <= high <= bound[1]:
        raise ValueError(f'{name} range must lie in {bound} with min <= max, '
                         f'got ({low}, {high})')
    if low == high == center:
        return None
    return low, high


def _gray(img: np.ndarray) -> np.ndarray:
    """HxW luma of a float32 BGR image (torchvision weights)."""
    return img @ GRAY_WEIGHTS_BGR


def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    """Scale a float32 BGR image towards black (0) or brighter.

    Args:
        img (np.ndarray): HxWx3 float32 image in [0, 255].
        factor (float): 0 gives black, 1 the original image.
    """
    return np.clip(img * factor, 0., MAX_VALUE)


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend a float32 BGR image with its mean grey level.

    Args:
        img (np.ndarray): HxWx3 float32 image in [0, 255].
        factor (float): 0 gives a uniform grey image, 1 the original.
    """
    mean = float(_gray(img).mean())
    return np.clip(img * factor + mean * (1. - factor), 0., MAX_VALUE)


def adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    """Blend a float32 BGR image with its per-pixel grey version.

    Args:
        img (np.ndarray): HxWx3 float32 image in [0, 255].
        factor (float): 0 gives a grey image, 1 the original.
    """
    gray = _gray(img)[..., None]
    return np.clip(img * factor + gray * (1. - factor), 0., MAX_VALUE)


def adjust_hue(img: np.ndarray, factor: float) -> np.ndarray:
    """Rotate the hue of a float32 BGR image.

    Args:
        img (np.ndarray): HxWx3 float32 image in [0, 255].
        factor (float): Hue shift as a fraction of a full turn, in
            [-0.5, 0.5].
    """
    hsv = cv2.cvtColor(img / MAX_VALUE, cv2.COLOR_BGR2HSV)  # H in [0, 360)
    hsv[..., 0] = np.mod(hsv[..., 0] + factor * 360., 360.)
    bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    return np.clip(bgr * MAX_VALUE, 0., MAX_VALUE)


@TRANSFORMS.register_module()
class BitemporalColorJitter(BaseTransform):
    """torchvision-style ColorJitter with independent factors per date.

    For each date separately (as FTAN/ChangeFormer call torchvision's
    ``ColorJitter`` once per image) a random order of the four operations
    and the factors ``brightness ~ U(max(0, 1 - b), 1 + b)``,
    ``contrast ~ U(max(0, 1 - c), 1 + c)``,
    ``saturation ~ U(max(0, 1 - s), 1 + s)`` and ``hue ~ U(-h, h)`` are
    drawn. An argument may also be a ``(min, max)`` pair; 0 disables the
    operation. The operations follow torchvision's definitions on float
    images (grey weights 0.2989/0.587/0.114, hue rotated in HSV) and clip to
    [0, 255] after each step; uint8 images are rounded once at the end.
    ``prob`` is drawn once per sample (both dates are jittered or neither).

    Required Keys:

    - img (list of HxWx3 BGR images)

    Modified Keys:

    - img

    Args:
        brightness (float | tuple[float, float]): Brightness jitter.
            Defaults to 0.3.
        contrast (float | tuple[float, float]): Contrast jitter.
            Defaults to 0.3.
        saturation (float | tuple[float, float]): Saturation jitter.
            Defaults to 0.3.
        hue (float | tuple[float, float]): Hue jitter, a fraction of a full
            turn with ``0 <= hue <= 0.5`` (or a pair in [-0.5, 0.5]).
            Defaults to 0.3.
        prob (float): Probability of jittering a sample. Defaults to 1.0.
    """

    OPERATIONS = (adjust_brightness, adjust_contrast, adjust_saturation,
                  adjust_hue)

    def __init__(self,
                 brightness: Union[float, Sequence[float]] = 0.3,
                 contrast: Union[float, Sequence[float]] = 0.3,
                 saturation: Union[float, Sequence[float]] = 0.3,
                 hue: Union[float, Sequence[float]] = 0.3,
                 prob: float = 1.0) -> None:
        super().__init__()
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.ranges = (
            _jitter_range('brightness', brightness),
            _jitter_range('contrast', contrast),
            _jitter_range('saturation', saturation),
            _jitter_range('hue', hue, center=0., bound=(-0.5, 0.5),
                          clip_low_at_zero=False),
        )
        self.prob = prob

    def _draw_one(self) -> List[Tuple[int, float]]:
        """Draw (operation index, factor) pairs in application order, for
        one image, following torchvision's ``ColorJitter.get_params``."""
        order = np.random.permutation(len(self.OPERATIONS))
        factors = [
            None if r is None else float(np.random.uniform(*r))
            for r in self.ranges
        ]
        return [(int(i), factors[i]) for i in order if factors[i] is not None]

    @cache_randomness
    def _draw_params(self, num_images: int) -> List[List[Tuple[int, float]]]:
        """Draw the operation sequence of every date (empty when skipped)."""
        if np.random.rand() >= self.prob:
            return [[] for _ in range(num_images)]
        return [self._draw_one() for _ in range(num_images)]

    def jitter(self, img: np.ndarray,
               ops: Sequence[Tuple[int, float]]) -> np.ndarray:
        """Apply ``ops`` (operation index, factor) to one BGR image.

        Args:
            img (np.ndarray): HxWx3 BGR image, uint8 or float32 in [0, 255].
            ops (Sequence[tuple[int, float]]): Operations in order.
        """
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError('BitemporalColorJitter needs HxWx3 colour '
                             f'images, got shape {img.shape}')
        if not ops:
            return img
        out = img.astype(np.float32)
        for index, factor in ops:
            out = self.OPERATIONS[index](out, factor)
        return _restore_dtype(out, img.dtype)

    def transform(self, results: dict) -> dict:
        """Jitter each image of ``results['img']`` with its own factors.

        Args:
            results (dict): Result dict with the image pair in ``img``.
        """
        imgs = _image_list(results, type(self).__name__)
        params = self._draw_params(len(imgs))
        results['img'] = [
            self.jitter(img, ops) for img, ops in zip(imgs, params)
        ]
        return results

    def __repr__(self) -> str:
        names = ('brightness', 'contrast', 'saturation', 'hue')
        args = ', '.join(f'{n}={r}' for n, r in zip(names, self.ranges))
        return f'{type(self).__name__}({args}, prob={self.prob})'
