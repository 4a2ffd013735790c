"""Seeded synthetic bitemporal change-detection data in LEVIR-CD layout.

Each scene is a textured landscape (smooth vegetation/soil field, striped
crop parcels, roads) with buildings. Buildings present in both dates are
unchanged; buildings present in one date only (mostly new ones in B, some
demolished from A, including tiny 4-8 px ones and clusters of new houses) are
the real changes and the only pixels labelled 255. The two dates also differ
by pseudo-changes that are NOT labelled: season (vegetation and crop colours),
illumination (gain, tint, offset, haze), shadow direction, a misregistration
of B by 0-2 px and independent sensor noise.

Every image is drawn from its own generator seeded with
``(seed, split, index)``, so the files are byte-for-byte reproducible and an
image does not depend on how many images the split has.
"""
import os.path as osp
from typing import Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log
from mmengine.utils import mkdir_or_exist

SPLITS = ('train', 'val', 'test')
DEFAULT_COUNTS = dict(train=200, val=40, test=40)
MAX_SHIFT = 2  # misregistration of B, pixels
_MARGIN = MAX_SHIFT + 2
# Probabilities of a scene without change, with scattered changed buildings
# and with a cluster of new (or demolished) houses.
CHANGE_MODES = (0.15, 0.5, 0.35)

# RGB colours. Seasons go from lush summer to dry winter.
_VEGETATION = np.array([[55, 105, 45], [85, 120, 50], [135, 125, 65],
                        [150, 138, 105]], np.float32)
_CROP = np.array([[90, 140, 60], [150, 150, 70], [175, 150, 95],
                  [140, 120, 95]], np.float32)
_SOIL = np.array([150, 130, 105], np.float32)
_ROAD = np.array([105, 105, 110], np.float32)
_ROOFS = np.array([[180, 70, 50], [200, 110, 70], [170, 170, 175],
                   [210, 210, 215], [70, 110, 170], [95, 90, 90],
                   [225, 200, 150], [60, 140, 150]], np.float32)

Building = Tuple[List[np.ndarray], np.ndarray, str]  # polygons, roof, dates


def _smooth_field(rng: np.random.Generator, size: int,
                  cells: int) -> np.ndarray:
    """Random field in [0, 1] that varies smoothly over ``size // cells`` px.

    Args:
        rng (np.random.Generator): Random generator.
        size (int): Side of the square field.
        cells (int): Number of random control values along a side.

    Returns:
        np.ndarray: ``(size, size)`` float32 field.
    """
    coarse = rng.random((cells, cells), dtype=np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(field, 0.0, 1.0)


def _rect(center: np.ndarray, width: float, height: float,
          angle: float) -> np.ndarray:
    """Corners of a rotated rectangle.

    Args:
        center (np.ndarray): ``(x, y)`` centre.
        width (float): Side length along ``angle``.
        height (float): Side length across ``angle``.
        angle (float): Rotation in degrees.

    Returns:
        np.ndarray: ``(4, 2)`` float32 corners in drawing order.
    """
    return cv2.boxPoints(((float(center[0]), float(center[1])),
                          (float(width), float(height)), float(angle)))


def _fill(mask: np.ndarray, polygons: List[np.ndarray], value=255) -> None:
    """Fill polygons (float corners) into ``mask`` in place.

    Args:
        mask (np.ndarray): Image drawn into.
        polygons (list[np.ndarray]): ``(N, 2)`` corner arrays.
        value: Fill value (scalar or colour).
    """
    for p in polygons:  # one call each: overlapping parts must not cancel
        cv2.fillPoly(mask, [np.round(p).astype(np.int32)], value)


class _Scene:
    """Date-independent layout of one scene and its rendering per date.

    Args:
        rng (np.random.Generator): Random generator.
        canvas (int): Side of the drawn area (output size plus margins).
    """

    def __init__(self, rng: np.random.Generator, canvas: int) -> None:
        self.rng = rng
        self.canvas = canvas
        self.vegetation = _smooth_field(rng, canvas, int(rng.integers(4, 9)))
        self.texture = cv2.GaussianBlur(
            rng.standard_normal((canvas, canvas), np.float32), (0, 0), 1.2)
        self.angle = float(rng.uniform(0, 90))
        self.occupied = np.zeros((canvas, canvas), np.uint8)
        self.fields = self._make_fields()
        self.roads = self._make_roads()
        self.buildings: List[Building] = []
        self._make_buildings()

    def _make_fields(self) -> List[Tuple[np.ndarray, np.ndarray]]:
        """Striped crop parcels as (mask, stripe pattern) pairs."""
        rng, size = self.rng, self.canvas
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        fields = []
        for _ in range(int(rng.integers(0, 4))):
            mask = np.zeros((size, size), np.uint8)
            _fill(mask, [
                _rect(rng.uniform(0, size, 2), rng.uniform(50, 150),
                      rng.uniform(40, 120), self.angle + rng.normal(0, 3))
            ])
            theta = np.deg2rad(self.angle + rng.choice([0.0, 90.0]))
            period = rng.uniform(4, 10)
            stripes = 0.5 + 0.5 * np.sin(
                2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)
            fields.append((mask > 0, stripes))
        return fields

    def _make_roads(self) -> np.ndarray:
        """Road mask; roads are also marked as occupied for buildings."""
        rng, size = self.rng, self.canvas
        mask = np.zeros((size, size), np.uint8)
        for k in range(int(rng.integers(0, 4))):
            theta = np.deg2rad(self.angle + 90.0 * (k % 2) + rng.normal(0, 2))
            center = rng.uniform(0.15, 0.85, 2) * size
            step = np.array([np.cos(theta), np.sin(theta)]) * 2 * size
            cv2.line(mask, tuple(np.round(center - step).astype(int)),
                     tuple(np.round(center + step).astype(int)), 255,
                     int(rng.integers(4, 9)))
        self.occupied |= cv2.dilate(mask, np.ones((7, 7), np.uint8))
        return mask > 0

    def _place(self, polygons: List[np.ndarray], dates: str,
               roof: Optional[np.ndarray] = None) -> bool:
        """Add a building unless it overlaps roads or other buildings.

        Args:
            polygons (list[np.ndarray]): Footprint as rectangles.
            dates (str): ``'ab'`` (unchanged), ``'a'`` or ``'b'``.
            roof (np.ndarray, optional): Roof colour; random if None.

        Returns:
            bool: Whether the building was placed.
        """
        points = np.concatenate(polygons)
        x0, y0 = np.floor(points.min(0)).astype(int) - 2
        x1, y1 = np.ceil(points.max(0)).astype(int) + 3
        if x0 < 0 or y0 < 0 or x1 > self.canvas or y1 > self.canvas:
            return False
        if self.occupied[y0:y1, x0:x1].any():
            return False
        self.occupied[y0:y1, x0:x1] = 255
        if roof is None:
            roof = _ROOFS[self.rng.integers(len(_ROOFS))] * self.rng.uniform(
                0.85, 1.1)
        self.buildings.append((polygons, roof, dates))
        return True

    def _random_footprint(self, scale: float) -> List[np.ndarray]:
        """Rectangular or L-shaped footprint at a random position.

        Args:
            scale (float): Size factor; 0 draws a tiny 4-8 px building.

        Returns:
            list[np.ndarray]: One or two rectangles.
        """
        rng = self.rng
        center = rng.uniform(0, self.canvas, 2)
        angle = self.angle + rng.choice([0.0, 90.0]) + rng.normal(0, 2)
        if scale == 0:
            return [_rect(center, rng.uniform(4, 8), rng.uniform(4, 8), angle)]
        w, h = rng.uniform(12, 40) * scale, rng.uniform(10, 26) * scale
        parts = [_rect(center, w, h, angle)]
        if rng.random() < 0.25:
            theta = np.deg2rad(angle)
            along = np.array([np.cos(theta), np.sin(theta)])
            across = np.array([-along[1], along[0]])
            wing = center + along * (w / 2 - h / 4) + across * h / 2
            parts.append(_rect(wing, h / 2, h, angle))
        return parts

    def _make_cluster(self, dates: str) -> None:
        """Rows of identical houses, e.g. a new residential block.

        Args:
            dates (str): Presence of the whole cluster.
        """
        rng = self.rng
        theta = np.deg2rad(self.angle)
        along = np.array([np.cos(theta), np.sin(theta)])
        across = np.array([-along[1], along[0]])
        w, h = rng.uniform(12, 22), rng.uniform(10, 16)
        gap = rng.uniform(4, 9)
        origin = rng.uniform(0.1, 0.6, 2) * self.canvas
        roof = _ROOFS[rng.integers(len(_ROOFS))]
        for i in range(int(rng.integers(2, 6))):
            for j in range(int(rng.integers(3, 7))):
                center = origin + along * j * (w + gap) + across * i * (
                    h + gap)
                self._place([_rect(center, w, h, self.angle)], dates, roof)

    def _make_buildings(self) -> None:
        """Sample the scene's real changes, then its unchanged buildings."""
        rng = self.rng
        mode = rng.choice(['none', 'scattered', 'cluster'], p=CHANGE_MODES)
        if mode == 'cluster':
            self._make_cluster(str(rng.choice(['a', 'b'], p=[0.2, 0.8])))
        num_changed = dict(none=0, scattered=rng.integers(3, 11),
                           cluster=rng.integers(0, 3))[mode]
        num_tiny = int(rng.integers(0, 4)) if mode != 'none' else 0
        plan = ([('changed', 1.5)] * int(num_changed) +
                [('changed', 0.0)] * num_tiny +
                [('unchanged', 0.0 if rng.random() < 0.15 else 1.0)
                 for _ in range(int(rng.integers(3, 30)))])
        for kind, scale in plan:
            for _ in range(20):
                dates = ('ab' if kind == 'unchanged' else str(
                    rng.choice(['a', 'b'], p=[0.25, 0.75])))
                if self._place(self._random_footprint(scale), dates):
                    break

    def label(self) -> np.ndarray:
        """Mask (0/255) of the buildings present in exactly one date."""
        mask = np.zeros((self.canvas, self.canvas), np.uint8)
        for polygons, _, dates in self.buildings:
            if dates != 'ab':
                _fill(mask, polygons)
        return mask

    def render(self, date: str) -> np.ndarray:
        """Draw the scene as seen at one date, before radiometric effects.

        Args:
            date (str): ``'a'`` or ``'b'``.

        Returns:
            np.ndarray: ``(canvas, canvas, 3)`` float32 RGB image.
        """
        rng = self.rng
        season = int(rng.integers(len(_VEGETATION)))
        veg = _VEGETATION[season] * rng.uniform(0.92, 1.08, 3).astype(
            np.float32)
        weight = np.clip((self.vegetation - 0.35) * 3.0, 0, 1)[..., None]
        img = _SOIL * (1 - weight) + veg * weight
        for mask, stripes in self.fields:
            crop = _CROP[season] * (0.8 + 0.25 * stripes[..., None])
            img[mask] = crop[mask]
        img += 12.0 * self.texture[..., None]
        img[self.roads] = _ROAD
        shadow = np.zeros(self.occupied.shape, np.uint8)
        sun = rng.uniform(0, 2 * np.pi)
        offset = rng.uniform(1, 3.5) * np.array([np.cos(sun), np.sin(sun)])
        present = [b for b in self.buildings if date in b[2]]
        for polygons, _, _ in present:
            _fill(shadow, [p + offset for p in polygons])
        img[shadow > 0] *= 0.55
        for polygons, roof, _ in present:
            _fill(img, polygons, roof.tolist())
            for p in polygons:  # darker half: gable roof
                half = np.stack([p[0], p[1], (p[1] + p[2]) / 2,
                                 (p[0] + p[3]) / 2])
                _fill(img, [half], (roof * 0.82).tolist())
        return img


def _radiometry(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Apply illumination, tint, haze and sensor noise; quantise to uint8.

    Args:
        rng (np.random.Generator): Random generator.
        img (np.ndarray): Float RGB image.

    Returns:
        np.ndarray: uint8 RGB image.
    """
    gain = rng.uniform(0.75, 1.25) * rng.uniform(0.94, 1.06, 3)
    img = img * gain.astype(np.float32) + rng.uniform(-15, 15)
    haze = rng.uniform(0, 0.2)
    img = img * (1 - haze) + haze * np.float32(190)
    img += np.float32(rng.uniform(1.5, 5)) * rng.standard_normal(
        img.shape, np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def make_pair(rng: np.random.Generator,
              size: int = 256) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one bitemporal sample.

    Args:
        rng (np.random.Generator): Random generator.
        size (int): Side of the square images. Defaults to 256.

    Returns:
        tuple[np.ndarray]: ``(a, b, label)``: two ``(size, size, 3)`` uint8
        RGB images and a ``(size, size)`` uint8 label (0 unchanged, 255
        changed), aligned with ``a``.
    """
    scene = _Scene(rng, size + 2 * _MARGIN)
    m = _MARGIN
    dy, dx = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, 2)
    a = scene.render('a')[m:m + size, m:m + size]
    b = scene.render('b')[m + dy:m + dy + size, m + dx:m + dx + size]
    label = scene.label()[m:m + size, m:m + size]
    return _radiometry(rng, a), _radiometry(rng, b), label


def make_split(seed: int, split: str, num: int, size: int = 256
               ) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield the samples of one split.

    Args:
        seed (int): Data set seed.
        split (str): One of ``SPLITS``; each split has its own samples.
        num (int): Number of samples.
        size (int): Image side. Defaults to 256.

    Yields:
        tuple[np.ndarray]: ``(a, b, label)`` as returned by :func:`make_pair`.
    """
    for index in range(num):
        rng = np.random.default_rng([seed, SPLITS.index(split), index])
        yield make_pair(rng, size)


def write_dataset(root: str,
                  seed: int = 0,
                  size: int = 256,
                  counts: Optional[Dict[str, int]] = None) -> Dict[str, int]:
    """Write the data set as ``root/{split}/{A,B,label}/{split}_{i:04d}.png``.

    Args:
        root (str): Output directory (created if needed).
        seed (int): Data set seed. Defaults to 0.
        size (int): Image side. Defaults to 256.
        counts (dict[str, int], optional): Images per split; defaults to
            ``DEFAULT_COUNTS``.

    Returns:
        dict[str, int]: Number of images written per split. The fraction of
        changed pixels of each split is logged.
    """
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    for split, num in counts.items():
        dirs = {d: osp.join(root, split, d) for d in ('A', 'B', 'label')}
        for d in dirs.values():
            mkdir_or_exist(d)
        changed = 0
        for index, (a, b, label) in enumerate(
                make_split(seed, split, num, size)):
            name = f'{split}_{index:04d}.png'
            cv2.imwrite(osp.join(dirs['A'], name), a[..., ::-1])
            cv2.imwrite(osp.join(dirs['B'], name), b[..., ::-1])
            cv2.imwrite(osp.join(dirs['label'], name), label)
            changed += int(np.count_nonzero(label))
        ratio = changed / max(num * size * size, 1)
        print_log(f'{split}: {num} image pairs in {osp.join(root, split)}, '
                  f'{100 * ratio:.2f}% changed pixels', 'current')
    return counts
