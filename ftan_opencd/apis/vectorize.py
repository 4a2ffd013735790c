"""Change polygons: the change mask as vector features, band by band.

The mask rows stream out of the sliding-window inference top to bottom;
:class:`ChangeVectorizer` turns them into one polygon per connected
component of changed pixels without ever holding the whole mask:

* each band of rows is labelled with :func:`scipy.ndimage.label` and traced
  with :func:`rasterio.features.shapes` (in pixel coordinates, which are
  integers, so pieces of adjacent bands share their edges exactly);
* a component of the new band that touches a component of the last row seen
  (same column for 4-connectivity, also the diagonal neighbours for
  8-connectivity) is merged into it with a union-find, together with its
  pixel count, probability sum and maximum and its polygon pieces;
* only the components that touch the last row stay open; the others are
  finished: their pieces are unioned (shapely), mapped to the raster's CRS,
  simplified, filtered by area and handed to a sink (a list, or a
  GeoPackage / GeoJSON written under a temporary name and renamed at the
  end).

A polygon crossing any number of band boundaries therefore comes out as one
feature. Connectivity is 4 by default (pixels sharing an edge), as in
:func:`rasterio.features.shapes`, and every feature is then a ``Polygon``
(possibly with holes); with 8-connectivity, pixels touching at a corner
belong to the same object and features are ``MultiPolygon``.

A ``simplify`` tolerance at least as large as the scene's shorter side
(in output units) is refused: every outline would collapse. Objects whose
shorter bounding-box side is at most the tolerance are distorted by it (a
square becomes a triangle); when there are any, one warning at the end
gives their number and their geometry area against ``area_map``.

Attributes of every feature: ``area_px`` (changed pixels),
``area_map`` (``area_px`` times the pixel area in map units, CRS units
squared; equal to ``area_px`` without georeferencing), ``prob_mean`` and
``prob_max`` (change probability over the object's pixels). Areas are those
of the pixels, before any simplification.

Needs rasterio and shapely (and pyogrio to write files): the optional
``[geo]`` extra.
"""
import importlib
import logging
import os
import os.path as osp
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log
from scipy import ndimage

from ..errors import UserError

# Output suffix -> OGR driver.
VECTOR_DRIVERS = {'.gpkg': 'GPKG', '.geojson': 'GeoJSON'}
LAYER = 'changes'
FIELDS = ('area_px', 'area_map', 'prob_mean', 'prob_max')
# Finished features written to the file per append.
FLUSH_FEATURES = 10000
GEO_HINT = '(or: pip install -e .[geo])'


def import_geo(files: bool = True) -> dict:
    """Import the GIS libraries of change polygons or say what to install.

    Args:
        files (bool): Also pyogrio, which writes GeoPackage / GeoJSON.

    Returns:
        dict: ``features`` (rasterio.features), ``affine``
        (rasterio.Affine), ``shapely`` and, with ``files``, ``pyogrio``
        (pyogrio.raw).

    Raises:
        ImportError: Naming every missing package and the pip command.
    """
    wanted = {'features': 'rasterio.features', 'shapely': 'shapely'}
    if files:
        wanted['pyogrio'] = 'pyogrio.raw'
    modules, missing = {}, []
    try:
        modules['affine'] = importlib.import_module('rasterio').Affine
    except ImportError:
        pass  # reported with rasterio.features below
    for key, name in wanted.items():
        try:
            modules[key] = importlib.import_module(name)
        except ImportError:
            missing.append(name.split('.')[0])
    if missing:
        raise ImportError(
            f'change polygons need {" and ".join(missing)}, not installed: '
            f'pip install {" ".join(missing)}  {GEO_HINT}')
    major = int(modules['shapely'].__version__.split('.')[0])
    if major < 2:
        raise ImportError(
            f'change polygons need shapely >= 2, found '
            f'{modules["shapely"].__version__}: pip install -U shapely  '
            f'{GEO_HINT}')
    return modules


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, bool) and np.isfinite(value)


def check_vector_options(min_area=0, min_area_map=None, simplify=None,
                         connectivity: int = 4) -> None:
    """Refuse polygon options that have no meaning.

    Args:
        min_area (int): Smallest object kept, in pixels.
        min_area_map (float, optional): Smallest object kept, in map units.
        simplify (float, optional): Simplification tolerance.
        connectivity (int): 4 or 8.

    Raises:
        ValueError: Naming the option and the accepted values.
    """
    if not _is_number(min_area) or min_area < 0:
        raise UserError(f'min_area must be a number of pixels >= 0, got '
                         f'{min_area!r}')
    if min_area_map is not None and (not _is_number(min_area_map)
                                     or min_area_map < 0):
        raise UserError('min_area_map must be an area >= 0 in map units, '
                         f'got {min_area_map!r}')
    if simplify is not None and (not _is_number(simplify) or simplify < 0):
        raise UserError('simplify must be a tolerance >= 0 (map units, '
                         f'pixels without georeferencing), got {simplify!r}')
    if connectivity not in (4, 8):
        raise UserError(f'connectivity must be 4 (edges) or 8 (edges and '
                         f'corners), got {connectivity!r}')


def check_vector_file(path: str, inputs: Sequence = ()) -> None:
    """Refuse a vector output before any computation.

    Args:
        path (str): ``.gpkg`` or ``.geojson`` file.
        inputs (Sequence): Files of the run (inputs and other outputs; arrays
            and None are skipped) that it must not replace.

    Raises:
        ValueError: Unknown suffix, or the file is another file of the run.
        ImportError: rasterio, shapely or pyogrio missing (what to install).
    """
    suffix = osp.splitext(str(path))[1].lower()
    if suffix not in VECTOR_DRIVERS:
        raise UserError(
            f'{path}: change polygons are written as '
            f'{" or ".join(VECTOR_DRIVERS)}; {suffix or "no suffix"} is '
            'not supported')
    others = [osp.realpath(str(p)) for p in inputs
              if p is not None and not isinstance(p, np.ndarray)]
    if osp.realpath(str(path)) in others:
        raise UserError(f'{path} is another file of this run; choose '
                         'another vector file')
    import_geo(files=True)


def pixel_area(transform) -> float:
    """Area of one pixel in map units (1 without a transform)."""
    if transform is None:
        return 1.0
    return abs(transform.a * transform.e - transform.b * transform.d)


def pixel_size(transform) -> Tuple[float, float]:
    """Width and height of one pixel in map units (1, 1 without a
    transform)."""
    if transform is None:
        return 1.0, 1.0
    return (float(np.hypot(transform.a, transform.d)),
            float(np.hypot(transform.b, transform.e)))


def check_simplify_scene(simplify: Optional[float], transform,
                         scene_shape: Tuple[int, int], name: str) -> None:
    """Refuse a tolerance at least as large as the scene.

    Args:
        simplify (float, optional): The tolerance (output units).
        transform (Affine, optional): Pixel to map coordinates.
        scene_shape (tuple[int, int]): ``(height, width)`` in pixels.
        name (str): The input, for the message.

    Raises:
        UserError: Naming ``simplify``, the scene's extent and a tolerance
            to use instead.
    """
    if not simplify:
        return
    width, height = pixel_size(transform)
    extent = (scene_shape[1] * width, scene_shape[0] * height)
    if simplify >= min(extent):
        units = 'pixels' if transform is None else 'map units'
        raise UserError(
            f'simplify {simplify:g} is at least the extent of {name} '
            f'({extent[0]:g} x {extent[1]:g} {units}): every outline would '
            f'collapse to a triangle. Give a tolerance below the objects\' '
            f'size, e.g. {max(width, height):g} (one pixel) to smooth the '
            'pixel staircase')


class _Component:
    """Running totals and polygon pieces of one connected component."""

    __slots__ = ('pixels', 'prob_sum', 'prob_max', 'pieces')

    def __init__(self, pixels: int, prob_sum: float, prob_max: float,
                 pieces: List):
        self.pixels = pixels
        self.prob_sum = prob_sum
        self.prob_max = prob_max
        self.pieces = pieces

    def absorb(self, other: '_Component') -> None:
        """Add ``other`` (another part of the same object) to this one."""
        self.pixels += other.pixels
        self.prob_sum += other.prob_sum
        self.prob_max = max(self.prob_max, other.prob_max)
        self.pieces.extend(other.pieces)


class _UnionFind:
    """Disjoint sets of component ids; the smallest id is the root."""

    def __init__(self):
        self.parent = {}

    def find(self, x: int) -> int:
        """Root of ``x``."""
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:  # path compression
            self.parent[x], x = root, self.parent.get(x, x)
        return root

    def union(self, a: int, b: int) -> None:
        """Merge the sets of ``a`` and ``b``."""
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def structure(connectivity: int) -> np.ndarray:
    """:func:`scipy.ndimage.label` structuring element of 4 or 8
    connectivity."""
    return ndimage.generate_binary_structure(2, 1 if connectivity == 4
                                             else 2)


def boundary_links(above: np.ndarray, below: np.ndarray,
                   connectivity: int) -> np.ndarray:
    """Pairs of component ids that touch across a band boundary.

    Args:
        above (np.ndarray): (W,) ids of the last row of the previous band
            (0: no change).
        below (np.ndarray): (W,) ids of the first row of the new band.
        connectivity (int): 4 (same column) or 8 (also diagonal).

    Returns:
        np.ndarray: (N, 2) unique ``(above id, below id)`` pairs.
    """
    shifts = (0, ) if connectivity == 4 else (-1, 0, 1)
    pairs = []
    for shift in shifts:
        a = above[max(0, shift):len(above) + min(0, shift)]
        b = below[max(0, -shift):len(below) + min(0, -shift)]
        touch = (a > 0) & (b > 0)
        pairs.append(np.stack([a[touch], b[touch]], axis=1))
    return np.unique(np.concatenate(pairs), axis=0)


class ChangeVectorizer:
    """Polygons of changed pixels from rows streamed top to bottom.

    Has the writer interface of :mod:`.writers` (``write``, ``close``,
    ``abort``), so it takes the rows of the inference directly. Memory: the
    open components (those touching the last row seen) and one band.

    Args:
        sink (Callable[[dict], None]): Receives each finished feature: a
            dict of ``geometry`` (shapely) and the attributes of
            :data:`FIELDS`.
        transform (Affine, optional): Pixel to map coordinates (the raster's
            geotransform); None keeps pixel coordinates (x = column,
            y = row, downwards, pixel corners on integers).
        connectivity (int): 4 (default) or 8, see the module docstring.
        min_area (int): Objects of fewer pixels are dropped. Default: 0.
        min_area_map (float, optional): Objects of a smaller area in map
            units are dropped.
        simplify (float, optional): Douglas-Peucker tolerance in output
            coordinates (map units, or pixels without ``transform``),
            topology preserving; None or 0 keeps the pixel outlines.
        scene_shape (tuple[int, int], optional): ``(height, width)`` of
            the scene in pixels: a ``simplify`` tolerance at least as large
            as its shorter side is refused (:func:`check_simplify_scene`).
        name (str): The input, for messages. Default: ``'the scene'``.
    """

    def __init__(self, sink: Callable[[dict], None], transform=None,
                 connectivity: int = 4, min_area=0,
                 min_area_map: Optional[float] = None,
                 simplify: Optional[float] = None,
                 scene_shape: Optional[Tuple[int, int]] = None,
                 name: str = 'the scene'):
        check_vector_options(min_area, min_area_map, simplify, connectivity)
        if scene_shape is not None:
            check_simplify_scene(simplify, transform, scene_shape, name)
        geo = import_geo(files=False)
        self._shapes = geo['features'].shapes
        self._shapely = geo['shapely']
        self._affine = geo['affine']
        self.sink = sink
        self.transform = transform
        self.connectivity = connectivity
        self.min_area = min_area
        self.min_area_map = min_area_map
        self.simplify = simplify
        self.pixel_area = pixel_area(transform)
        self.name = name
        self.count = 0  # features handed to the sink
        # objects not larger than the tolerance: count, exact and
        # simplified geometry area
        self.distorted = [0, 0.0, 0.0]
        self._structure = structure(connectivity)
        self._open: Dict[int, _Component] = {}
        self._last = None  # ids of the last row seen
        self._next_id = 1
        self._next_row = 0

    def write(self, start: int, mask: np.ndarray, prob: np.ndarray) -> None:
        """Add rows ``[start, start + len(mask))``.

        Args:
            start (int): First row; rows must follow each other.
            mask (np.ndarray): uint8 (rows, W); 1 is change (0 and the
                nodata value 255 are not).
            prob (np.ndarray): float32 (rows, W) change probability.
        """
        if start != self._next_row:
            raise ValueError(f'rows must arrive top to bottom without gaps: '
                             f'expected row {self._next_row}, got {start}')
        self._next_row = start + len(mask)
        labels, count = ndimage.label(mask == 1, structure=self._structure)
        ids = np.where(labels > 0,
                       labels.astype(np.int64) + (self._next_id - 1), 0)
        components = self._band_components(labels, count, prob, start)
        self._next_id += count
        components.update(self._open)
        if self._last is not None:
            links = boundary_links(self._last, ids[0], self.connectivity)
        else:
            links = np.zeros((0, 2), np.int64)
        ids_last = self._merge(components, links, ids[-1])
        keep = set(np.unique(ids_last[ids_last > 0]).tolist())
        self._finish([i for i in components if i not in keep], components)
        self._open = {i: components[i] for i in keep}
        self._last = ids_last

    def _band_components(self, labels: np.ndarray, count: int,
                         prob: np.ndarray, start: int) -> Dict[int,
                                                               _Component]:
        """Totals and polygon pieces of the components of one band, by
        global id."""
        if count == 0:
            return {}
        flat = labels.ravel()
        pixels = np.bincount(flat, minlength=count + 1)
        weights = np.where(flat > 0, prob.ravel(), 0).astype(np.float64)
        sums = np.bincount(flat, weights=weights, minlength=count + 1)
        maxima = np.atleast_1d(
            ndimage.maximum(prob, labels, np.arange(1, count + 1)))
        pieces = {i: [] for i in range(1, count + 1)}
        # Traced with 4-connectivity: an 8-connected component may be
        # several pieces, joined by the union at the end.
        for geom, value in self._shapes(
                labels.astype(np.int32), mask=labels > 0, connectivity=4,
                transform=self._affine.translation(0, start)):
            pieces[int(value)].append(self._shapely.geometry.shape(geom))
        offset = self._next_id - 1
        return {
            offset + i: _Component(int(pixels[i]), float(sums[i]),
                                   float(maxima[i - 1]),
                                   pieces[i])
            for i in range(1, count + 1)
        }

    @staticmethod
    def _merge(components: Dict[int, _Component], links: np.ndarray,
               last_row: np.ndarray) -> np.ndarray:
        """Merge linked components (into the smallest id, in place) and
        return the last row's ids mapped to the merged ids."""
        sets = _UnionFind()
        for a, b in links.tolist():
            sets.union(a, b)
        for i in sorted(sets.parent):
            root = sets.find(i)
            if root != i:
                components[root].absorb(components.pop(i))
        unique, inverse = np.unique(last_row, return_inverse=True)
        roots = np.array([sets.find(int(i)) if i else 0 for i in unique],
                         dtype=np.int64)
        return roots[inverse].reshape(last_row.shape)

    def _finish(self, ids: List[int], components: Dict[int,
                                                       _Component]) -> None:
        """Hand the finished components to the sink, top-left first."""
        for i in sorted(ids):
            feature = self._feature(components.pop(i))
            if feature is not None:
                self.sink(feature)
                self.count += 1

    def _feature(self, comp: _Component) -> Optional[dict]:
        """The feature of a finished component, None when too small."""
        area_map = comp.pixels * self.pixel_area
        if comp.pixels < self.min_area or (
                self.min_area_map is not None
                and area_map < self.min_area_map):
            return None
        shapely = self._shapely
        # pixel coordinates are integers: the union is exact, and a zero
        # tolerance drops the collinear vertices left on band boundaries
        geom = shapely.union_all(comp.pieces).simplify(0)
        if self.transform is not None:
            t = self.transform
            geom = shapely.affinity.affine_transform(
                geom, [t.a, t.b, t.d, t.e, t.c, t.f])
        if self.simplify:
            geom = self._simplified(geom)
        geom = shapely.orient_polygons(geom) if hasattr(
            shapely, 'orient_polygons') else geom
        if self.connectivity == 8 and geom.geom_type == 'Polygon':
            geom = shapely.geometry.MultiPolygon([geom])
        return dict(geometry=geom, area_px=comp.pixels, area_map=area_map,
                    prob_mean=comp.prob_sum / comp.pixels,
                    prob_max=comp.prob_max)

    def _simplified(self, geom):
        """``geom`` simplified; objects whose shorter bounding-box side is
        at most the tolerance are counted in :attr:`distorted`."""
        minx, miny, maxx, maxy = geom.bounds
        simple = geom.simplify(self.simplify, preserve_topology=True)
        if min(maxx - minx, maxy - miny) <= self.simplify:
            self.distorted[0] += 1
            self.distorted[1] += geom.area
            self.distorted[2] += simple.area
        return simple

    def close(self) -> None:
        """Finish the components still open (those on the last row); warn
        when the tolerance distorted some objects."""
        self._finish(list(self._open), self._open)
        self._last = None
        count, exact, simple = self.distorted
        if count:
            print_log(
                f'{self.name}: {count} of {self.count} change polygon(s) '
                f'are not larger than the simplify tolerance '
                f'{self.simplify:g} (their shorter side), so simplifying '
                f'distorted them: their geometry area is {simple:.6g} '
                f'instead of {exact:.6g} (area_map keeps the pixel area). '
                'Give a smaller tolerance (about one pixel smooths the '
                'staircase)', logger='current', level=logging.WARNING)

    def abort(self) -> None:
        """Forget the open components."""
        self._open = {}
        self._last = None


class VectorFileWriter:
    """Features to a GeoPackage or GeoJSON with pyogrio (GDAL), appended in
    chunks under a temporary name and renamed by :meth:`close`.

    Args:
        path (str): ``.gpkg`` or ``.geojson`` file.
        crs: CRS of the coordinates (rasterio CRS, WKT or ``'EPSG:n'``);
            None for pixel coordinates (said in the layer description, and
            in a warning for GeoJSON, whose readers take coordinates without
            a ``crs`` member as WGS84 longitude/latitude).
        connectivity (int): 4 (``Polygon`` layer) or 8 (``MultiPolygon``).
        description (str): Layer description (GPKG and GeoJSON keep it).
        pixel_coordinates (bool): Without a CRS, the coordinates are pixels
            (else those of a geotransform without CRS). Default: True.
    """

    def __init__(self, path: str, crs=None, connectivity: int = 4,
                 description: str = '', pixel_coordinates: bool = True):
        from .writers import partial_path
        geo = import_geo(files=True)
        self._write = geo['pyogrio'].write
        self._to_wkb = geo['shapely'].to_wkb
        self.path = path
        self.partial = partial_path(path)
        self.driver = VECTOR_DRIVERS[osp.splitext(path)[1].lower()]
        self.crs = None if crs is None else (
            crs if isinstance(crs, str) else crs.to_wkt())
        self.geometry_type = 'Polygon' if connectivity == 4 else \
            'MultiPolygon'
        if crs is None:
            note = ('No CRS: coordinates are pixels of the input (x = column, '
                    'y = row downwards).' if pixel_coordinates else
                    'No CRS: the input has a geotransform but no CRS.')
            description = (description + ' ' if description else '') + note
            if self.driver == 'GeoJSON':
                print_log(
                    f'{path}: the input has no CRS ({note}); GeoJSON readers '
                    'take coordinates without a crs member as WGS84 degrees '
                    '(a .gpkg keeps them CRS-less)', logger='current',
                    level=logging.WARNING)
        self.description = description
        self.count = 0
        self._buffer: List[dict] = []

    def add(self, feature: dict) -> None:
        """Queue one feature (dict of ``geometry`` and :data:`FIELDS`)."""
        self._buffer.append(feature)
        if len(self._buffer) >= FLUSH_FEATURES:
            self._flush()

    def _flush(self) -> None:
        if self._buffer or not self.count:
            first = self.count == 0
            if first:
                parent = osp.dirname(osp.abspath(self.path))
                os.makedirs(parent, exist_ok=True)
                self._remove_partial()
            features = self._buffer
            geometry = self._to_wkb(
                np.array([f['geometry'] for f in features], dtype=object))
            fields = [
                np.array([f['area_px'] for f in features], np.int64),
                *(np.array([f[k] for f in features], np.float64)
                  for k in FIELDS[1:])
            ]
            extra = dict(layer_options=dict(DESCRIPTION=self.description)
                         ) if first else dict(append=True)
            with warnings.catch_warnings():
                # a CRS-less layer is meant and described
                warnings.filterwarnings('ignore', "'crs' was not provided")
                self._write(self.partial, geometry, fields, list(FIELDS),
                            layer=LAYER, driver=self.driver,
                            geometry_type=self.geometry_type, crs=self.crs,
                            **extra)
            self.count += len(features)
            self._buffer = []

    def close(self) -> None:
        """Write what is queued (an empty layer when nothing was) and give
        the file its final name."""
        self._flush()
        os.replace(self.partial, self.path)

    def _remove_partial(self) -> None:
        for path in (self.partial, self.partial + '-journal',
                     self.partial + '-wal', self.partial + '-shm'):
            if osp.exists(path):
                os.remove(path)

    def abort(self) -> None:
        """Delete the unfinished file."""
        self._buffer = []
        self._remove_partial()


class VectorizingWriter:
    """A mask writer of :mod:`.writers` that also writes change polygons.

    Args:
        writer: The mask writer (``write``/``close``/``abort``).
        vectorizer (ChangeVectorizer): Fed with the same rows; its sink is
            ``vector_file.add``.
        vector_file (VectorFileWriter): The polygon file.
    """

    def __init__(self, writer, vectorizer: ChangeVectorizer,
                 vector_file: VectorFileWriter):
        self.writer = writer
        self.vectorizer = vectorizer
        self.vector_file = vector_file

    def write(self, start: int, mask: np.ndarray, prob: np.ndarray) -> None:
        """Write rows ``[start, start + len(mask))`` to both."""
        self.writer.write(start, mask, prob)
        self.vectorizer.write(start, mask, prob)

    def close(self) -> None:
        """Finish the polygons, then the files (all or nothing: a failure
        removes both outputs' unfinished files)."""
        try:
            self.vectorizer.close()
            self.vector_file.close()
        except BaseException:
            self.abort()
            raise
        try:
            self.writer.close()
        except BaseException:
            os.remove(self.vector_file.path)
            raise

    def abort(self) -> None:
        """Discard both outputs."""
        self.vectorizer.abort()
        self.vector_file.abort()
        self.writer.abort()


def vectorizing_writer(make_writer: Callable, path: str, src, **options):
    """A mask writer that also writes change polygons to ``path``.

    The polygon options are checked first (``simplify`` against the size
    of ``src`` too), so that a refused option creates no file.

    Args:
        make_writer (Callable[[], writer]): Creates the mask writer.
        path (str): ``.gpkg`` / ``.geojson`` file.
        src: Source of date 1 (``name``, ``height``, ``width``,
            ``georef``: ``(crs, transform)``, None for pixel coordinates).
        **options: ``connectivity``, ``min_area``, ``min_area_map`` and
            ``simplify`` of :class:`ChangeVectorizer`.

    Returns:
        VectorizingWriter: The combined writer.
    """
    require_georef(src.georef, options.get('min_area_map'), src.name)
    crs, transform = src.georef or (None, None)
    vectorizer = ChangeVectorizer(None, transform,
                                  scene_shape=(src.height, src.width),
                                  name=str(src.name), **options)
    connectivity = options.get('connectivity', 4)
    vector_file = VectorFileWriter(
        path, crs, connectivity,
        f'Change polygons of ftan-opencd ({connectivity}-connected changed '
        f'pixels of {osp.basename(str(src.name))}).',
        pixel_coordinates=transform is None or transform.is_identity)
    vectorizer.sink = vector_file.add
    return VectorizingWriter(make_writer(), vectorizer, vector_file)


def require_georef(georef, min_area_map, name: str) -> None:
    """Refuse ``min_area_map`` for an input without georeferencing.

    Raises:
        ValueError: Naming the input and ``min_area``.
    """
    if min_area_map is not None and georef is None:
        raise UserError(f'{name} has no georeferencing: min_area_map '
                         '(map units) needs a GeoTIFF input; give min_area '
                         'in pixels instead')
