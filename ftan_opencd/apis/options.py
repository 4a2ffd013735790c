"""Options of :class:`~ftan_opencd.apis.FTANInferencer`, by stage.

Three small frozen dataclasses hold every inference option and its one
default; ``tools/predict.py`` takes its option defaults from them, so the
API and the CLI cannot drift apart. Each checks its values when built, so a
bad option fails before the model sees an image:

* :class:`WindowOptions`: how the scene is cut and decided (window, stride,
  batch size, threshold);
* :class:`PixelOptions`: how input pixels are read (full-scale value,
  nodata value, channel order of arrays), see :mod:`ftan_opencd.pixels`;
* :class:`PolygonOptions`: how the mask becomes change polygons, see
  :mod:`.vectorize`.

:func:`route_options` sends the keyword arguments of one call to the stage
whose field they name, as mmseg's inferencer routes its keyword arguments;
an unknown keyword is an error, never ignored.
"""
import dataclasses
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from ..errors import UserError
from .vectorize import check_vector_options


def _check_int(name: str, value, minimum: int = 1) -> None:
    """Refuse a non-integer (or bool) ``value`` below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
        raise UserError(f'{name} must be an integer >= {minimum}, got '
                        f'{value!r}')


@dataclass(frozen=True)
class WindowOptions:
    """How a scene is cut into windows and how the mask is decided.

    Args:
        window (int): Window side in pixels (cut to the image when it is
            smaller). Default: 256.
        stride (int, optional): Step between windows, at most ``window``.
            None (default) takes 3/4 of the window (192 for 256), see
            :attr:`step`.
        batch_size (int): Windows per forward pass. Default: 8.
        threshold (float, optional): Probability above which a pixel is
            'changed', strictly between 0 and 1. None (default): 0.5, or the
            head's ``threshold`` for a sigmoid head.
    """

    window: int = 256
    stride: Optional[int] = None
    batch_size: int = 8
    threshold: Optional[float] = None

    def __post_init__(self):
        _check_int('window', self.window)
        if self.stride is not None:
            _check_int('stride', self.stride)
            if self.stride > self.window:
                raise UserError(
                    f'need stride <= window, got window={self.window}, '
                    f'stride={self.stride} (a larger stride leaves gaps)')
        _check_int('batch_size', self.batch_size)
        if self.threshold is not None and not (
                isinstance(self.threshold, (int, float))
                and not isinstance(self.threshold, bool)
                and 0 < self.threshold < 1):
            raise UserError('threshold must be a probability strictly '
                            f'between 0 and 1, got {self.threshold!r}')

    @property
    def step(self) -> int:
        """The stride in use: :attr:`stride`, else 3/4 of the window."""
        if self.stride is not None:
            return self.stride
        return max(1, self.window * 3 // 4)


@dataclass(frozen=True)
class PixelOptions:
    """How the input pixels are read (:mod:`ftan_opencd.pixels`).

    Args:
        max_value (float, optional): Full-scale value of the data, e.g. 4095
            for 12-bit data in uint16 files, 1.0 for reflectance. None
            (default): 255 for 8-bit, 65535 for 16-bit inputs.
        nodata (float, optional): Value of pixels without data (all bands
            equal to it). None (default): a GeoTIFF's declared nodata, none
            for other inputs. Non-finite pixels are always invalid.
        channel_order (str): Channel order of array inputs: ``'bgr'``
            (OpenCV, default) or ``'rgb'`` (PIL, rasterio, matplotlib).
            Image files are decoded by their format.
    """

    max_value: Optional[float] = None
    nodata: Optional[float] = None
    channel_order: str = 'bgr'

    def __post_init__(self):
        # max_value and nodata are checked where pixels are decoded
        # (ftan_opencd.pixels), their one home.
        if self.channel_order not in ('bgr', 'rgb'):
            raise UserError("channel_order must be 'bgr' (OpenCV) or "
                            f"'rgb', got {self.channel_order!r}")


@dataclass(frozen=True)
class PolygonOptions:
    """How the change mask becomes polygons (:mod:`.vectorize`).

    Args:
        min_area (int): Objects of fewer pixels are dropped. Default: 0.
        min_area_map (float, optional): Objects smaller than this area in
            map units (CRS units squared) are dropped; GeoTIFF inputs only.
            Exclusive with ``min_area``.
        simplify (float, optional): Topology-preserving Douglas-Peucker
            tolerance in map units (pixels without georeferencing). None
            (default) keeps the exact pixel outlines.
        connectivity (int): 4 (default: pixels sharing an edge; every
            feature a ``Polygon``) or 8 (also corners; ``MultiPolygon``).
    """

    min_area: int = 0
    min_area_map: Optional[float] = None
    simplify: Optional[float] = None
    connectivity: int = 4

    def __post_init__(self):
        check_vector_options(self.min_area, self.min_area_map,
                             self.simplify, self.connectivity)

    def as_kwargs(self) -> dict:
        """The options as keyword arguments of the vectorizer."""
        return dataclasses.asdict(self)

    def changed(self) -> Tuple[str, ...]:
        """Names of the fields that differ from the defaults."""
        default = PolygonOptions()
        return tuple(f.name for f in dataclasses.fields(self)
                     if getattr(self, f.name) != getattr(default, f.name))


STAGES = dict(window=WindowOptions, pixels=PixelOptions,
              polygons=PolygonOptions)
# Options of one call that are not part of a stage's dataclass.
RUN_KEYS = ('progress', 'amp')


def route_options(base: Dict[str, object], overrides: dict,
                  allowed: Tuple[str, ...] = tuple(STAGES)) -> dict:
    """Apply one call's keyword arguments to the stage options.

    Args:
        base (dict): The inferencer's options: ``window``, ``pixels``,
            ``polygons`` (dataclass instances) and the ``RUN_KEYS``.
        overrides (dict): The call's keyword arguments: a whole stage
            (``pixels=PixelOptions(...)``), a field of a stage
            (``stride=128``, ``nodata=0``; ``window=512`` is the field,
            ``window=WindowOptions(...)`` the stage) or a run key.
        allowed (tuple[str]): The stages this call uses; a field of
            another stage (e.g. ``simplify`` for a mask) is an error.

    Returns:
        dict: ``base`` with the overrides applied (new dataclasses; the
        inferencer's own stay unchanged).

    Raises:
        UserError: An unknown keyword, a keyword of a stage this call does
            not use, or an invalid value.
    """
    options = dict(base)
    fields = {}
    for stage in allowed:
        fields.update({f.name: stage for f in
                       dataclasses.fields(STAGES[stage])})
    updates = {stage: {} for stage in allowed}
    for key, value in overrides.items():
        if key in allowed and isinstance(value, STAGES[key]):
            options[key] = value
        elif key in fields:  # ``window=512`` is the field of the stage
            updates[fields[key]][key] = value
        elif key in allowed:
            raise UserError(f'{key} must be a {STAGES[key].__name__}, '
                            f'got {type(value).__name__}')
        elif key in RUN_KEYS:
            options[key] = value
        else:
            known = sorted(set(fields) | set(allowed) | set(RUN_KEYS))
            raise UserError(f'unknown option {key!r} for this call; it '
                            f'takes {", ".join(known)}')
    for stage, values in updates.items():
        if values:
            options[stage] = dataclasses.replace(options[stage], **values)
    return options
