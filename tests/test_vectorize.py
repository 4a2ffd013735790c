"""Change polygons (streamed vectorisation of the change mask) and the
object-level scores of ChangeMetric, on data made here whose answer is known.

The end-to-end tests make the mask independent of the network: the model's
``window_probability`` is replaced by a lookup of date 1's pixel codes, so
the probability map is exactly the one drawn into the image.
"""
import os
import re
import sys

import cv2
import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

import ftan_opencd  # noqa: F401 - registers ChangeMetric
from ftan_opencd.apis import inference
from ftan_opencd.apis import vectorize
from ftan_opencd.apis.vectorize import ChangeVectorizer
from ftan_opencd.errors import UserError
from opencd.registry import METRICS
from .conftest import DEMO_CONFIG, infer, load_tool

# shapely and pyogrio: the [geo] extra, also test requirements
# (requirements/tests.txt), so a missing one fails here instead of skipping.
import pyogrio  # noqa: E402
import shapely  # noqa: E402
from pyogrio.raw import read as read_vector  # noqa: E402

# The scene: 96 x 64 pixels of 0.5 m in UTM 33N; windows of 32 without
# overlap, so rows come out in bands [0, 32), [32, 64), [64, 96).
H, W, WINDOW = 96, 64, 32
X0, Y0, RES = 500000.0, 4600000.0, 0.5
EPSG = 32633
# date 1 pixel code -> change probability (exact binary fractions)
PROB = np.full(256, 0.125, np.float32)
PROB[1], PROB[2] = 0.75, 1.0


def scene_codes():
    """Pixel codes of date 1: a rectangle across the first band boundary
    (left half p=0.75, right half p=1), a 9-pixel square, an L-shape across
    the second boundary (p=0.75); 0 elsewhere (p=0.125)."""
    codes = np.zeros((H, W), np.uint8)
    codes[24:40, 4:12] = 1  # rectangle R: rows 24-39, cols 4-19
    codes[24:40, 12:20] = 2
    codes[4:7, 40:43] = 2  # small square S: 9 pixels
    codes[50:90, 40:46] = 1  # L: vertical bar 40 x 6 ...
    codes[84:90, 46:60] = 1  # ... and foot 6 x 14 (324 pixels in all)
    return codes


def scene_mask():
    return (PROB[scene_codes()] > 0.5).astype(np.uint8)


def lookup_probability(model, batch, amp=None):
    """Stand-in for the network: the probability drawn in date 1."""
    return PROB[batch[..., 0].astype(np.int64)]


@pytest.fixture
def known_probability(monkeypatch):
    monkeypatch.setattr(inference, 'window_probability', lookup_probability)


def write_pair(folder, georeferenced=True):
    """Date 1 holds the codes in all bands, date 2 is black."""
    folder.mkdir(exist_ok=True)
    img1 = np.repeat(scene_codes()[..., None], 3, axis=2)
    img2 = np.zeros_like(img1)
    paths = []
    for name, img in (('a', img1), ('b', img2)):
        if georeferenced:
            path = str(folder / f'{name}.tif')
            with rasterio.open(path, 'w', driver='GTiff', height=H, width=W,
                               count=3, dtype='uint8', crs=f'EPSG:{EPSG}',
                               transform=from_origin(X0, Y0, RES, RES)) as ds:
                ds.write(np.moveaxis(img, -1, 0))
        else:
            path = str(folder / f'{name}.png')
            cv2.imwrite(path, img)
        paths.append(path)
    return paths


def read_features(path):
    """Layer information (CRS, fields, metadata) and features (sorted by
    area) of a file."""
    _, _, geometry, fields = read_vector(str(path))
    meta = pyogrio.read_info(str(path))
    names = list(meta['fields'])
    features = [dict(geometry=shapely.from_wkb(g),
                     **{n: f[i] for n, f in zip(names, fields)})
                for i, g in enumerate(geometry)]
    return meta, sorted(features, key=lambda f: f['area_px'])


def map_box(col0, row0, col1, row1):
    """Map bounds (minx, miny, maxx, maxy) of pixels [row0, row1) x
    [col0, col1)."""
    return (X0 + col0 * RES, Y0 - row1 * RES, X0 + col1 * RES,
            Y0 - row0 * RES)


def check_scene_features(features):
    """R and L, S dropped by the minimum area, in map coordinates."""
    assert len(features) == 2
    rect, ell = features
    assert rect['geometry'].geom_type == 'Polygon'
    assert rect['area_px'] == 256 and rect['area_map'] == 256 * RES**2
    assert rect['geometry'].area == 256 * RES**2
    assert rect['geometry'].bounds == map_box(4, 24, 20, 40)
    assert len(rect['geometry'].exterior.coords) == 5  # one clean box
    assert rect['prob_mean'] == 0.875 and rect['prob_max'] == 1.0
    assert ell['area_px'] == 324 and ell['area_map'] == 324 * RES**2
    assert ell['geometry'].bounds == map_box(40, 50, 60, 90)
    assert len(ell['geometry'].exterior.coords) == 7  # an L has 6 corners
    assert ell['prob_mean'] == 0.75 and ell['prob_max'] == 0.75
    for f in features:
        assert f['geometry'].is_valid


# -- the streaming vectoriser, fed rows directly ---------------------------


def feed(mask, prob, bands, **kwargs):
    """Vectorise ``mask`` streamed in bands of the given heights."""
    features = []
    vectorizer = ChangeVectorizer(features.append, **kwargs)
    start = 0
    for rows in bands:
        vectorizer.write(start, mask[start:start + rows],
                         prob[start:start + rows])
        start += rows
    assert start == len(mask)
    vectorizer.close()
    return sorted(features, key=lambda f: f['area_px'])


def test_streamed_rows_give_one_polygon_per_object_in_map_units():
    codes = scene_codes()
    features = feed(scene_mask(), PROB[codes], [32, 32, 32],
                    transform=from_origin(X0, Y0, RES, RES), min_area=10)
    check_scene_features(features)


def test_min_area_in_map_units_and_pixel_coordinates():
    codes = scene_codes()
    # 9 px * 0.25 m2 = 2.25 m2 < 3 m2 <= 64 m2: S dropped, R and L kept
    features = feed(scene_mask(), PROB[codes], [32, 32, 32],
                    transform=from_origin(X0, Y0, RES, RES),
                    min_area_map=3.0)
    check_scene_features(features)
    # no transform: pixel coordinates (x = column, y = row), S kept
    small, rect, _ = feed(scene_mask(), PROB[codes], [7, 50, 39])
    assert small['geometry'].bounds == (40, 4, 43, 7)
    assert small['area_map'] == small['area_px'] == 9
    assert rect['geometry'].bounds == (4, 24, 20, 40)


@pytest.mark.parametrize('connectivity', [4, 8])
def test_streaming_equals_labelling_the_whole_mask(connectivity):
    from scipy import ndimage
    rng = np.random.default_rng(connectivity)
    for _ in range(10):
        h, w = rng.integers(1, 40, 2)
        mask = (rng.random((h, w)) < 0.5).astype(np.uint8)
        mask[rng.random((h, w)) < 0.05] = 255  # nodata is not change
        prob = rng.random((h, w)).astype(np.float32)
        bands = []
        while sum(bands) < h:
            bands.append(int(min(rng.integers(1, 6), h - sum(bands))))
        features = feed(mask, prob, bands, connectivity=connectivity)
        labels, count = ndimage.label(
            mask == 1, ndimage.generate_binary_structure(
                2, 1 if connectivity == 4 else 2))
        assert len(features) == count
        expected = sorted(
            (int((labels == i).sum()), float(prob[labels == i].max()))
            for i in range(1, count + 1))
        assert sorted((f['area_px'], f['prob_max'])
                      for f in features) == expected
        for f in features:
            assert f['geometry'].is_valid
            assert f['geometry'].area == f['area_px']
            assert f['geometry'].geom_type == (
                'Polygon' if connectivity == 4 else 'MultiPolygon')
        # the polygons tile the changed pixels exactly
        union = shapely.union_all([f['geometry'] for f in features])
        assert union.area == (mask == 1).sum()


def test_corner_neighbours_are_one_object_only_with_8_connectivity():
    mask = np.array([[1, 0], [0, 1]], np.uint8)
    prob = np.array([[0.75, 0], [0, 1.0]], np.float32)
    assert len(feed(mask, prob, [1, 1], connectivity=4)) == 2
    (both, ) = feed(mask, prob, [1, 1], connectivity=8)
    assert both['geometry'].geom_type == 'MultiPolygon'
    assert both['area_px'] == 2 and both['prob_mean'] == 0.875


def test_simplify_tolerance_smooths_a_staircase():
    mask = np.tril(np.ones((40, 40), np.uint8))
    prob = np.ones((40, 40), np.float32)
    (exact, ) = feed(mask, prob, [10] * 4)
    (smooth, ) = feed(mask, prob, [10] * 4, simplify=1.0)
    assert len(exact['geometry'].exterior.coords) > 80
    assert len(smooth['geometry'].exterior.coords) <= 5
    assert smooth['geometry'].is_valid
    assert smooth['area_px'] == exact['area_px'] == 820  # pixel areas


def test_rows_out_of_order_and_bad_options_are_refused():
    vectorizer = ChangeVectorizer(lambda f: None)
    vectorizer.write(0, np.zeros((2, 3), np.uint8), np.zeros((2, 3)))
    with pytest.raises(ValueError, match='expected row 2, got 5'):
        vectorizer.write(5, np.zeros((2, 3), np.uint8), np.zeros((2, 3)))
    for kwargs, message in ((dict(connectivity=6), 'connectivity'),
                            (dict(min_area=-1), 'min_area'),
                            (dict(simplify=-0.5), 'simplify')):
        with pytest.raises(ValueError, match=message):
            ChangeVectorizer(lambda f: None, **kwargs)


def test_tolerance_as_large_as_the_scene_is_refused():
    # the case of the issue: 256 x 256 pixels of 0.5 m, a 128 m scene
    transform = rasterio.Affine(0.5, 0, X0, 0, -0.5, Y0)
    for simplify in (1e6, 128):
        with pytest.raises(ValueError) as error:
            ChangeVectorizer(lambda f: None, transform, simplify=simplify,
                             scene_shape=(256, 256), name='t1.tif')
        assert str(error.value) == (
            f'simplify {simplify:g} is at least the extent of t1.tif (128 x '
            '128 map units): every outline would collapse to a triangle. '
            "Give a tolerance below the objects' size, e.g. 0.5 (one "
            'pixel) to smooth the pixel staircase')
    # the shorter side counts; pixels without georeferencing
    with pytest.raises(ValueError, match=r'\(300 x 40 pixels\)'):
        ChangeVectorizer(lambda f: None, simplify=40, scene_shape=(40, 300))
    ChangeVectorizer(lambda f: None, transform, simplify=127.9,
                     scene_shape=(256, 256))


def test_tolerance_larger_than_objects_warns_with_areas(monkeypatch):
    logged = []
    monkeypatch.setattr(vectorize, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    mask = np.zeros((40, 40), np.uint8)
    mask[2:5, 2:5] = 1  # 3 x 3: not larger than the tolerance
    mask[10:30, 10:30] = 1  # 20 x 20: unchanged by it
    prob = np.ones((40, 40), np.float32)
    small, big = feed(mask, prob, [20, 20], simplify=3.0)
    assert big['geometry'].area == 400 == big['area_map']
    assert small['area_map'] == 9 and small['geometry'].area < 9
    assert logged == [
        f'the scene: 1 of 2 change polygon(s) are not larger than the '
        'simplify tolerance 3 (their shorter side), so simplifying distorted '
        f'them: their geometry area is {small["geometry"].area:.6g} instead '
        'of 9 (area_map keeps the pixel area). Give a smaller tolerance '
        '(about one pixel smooths the staircase)']
    logged.clear()
    feed(mask, prob, [20, 20], simplify=2.5)  # every object larger
    assert logged == []


# -- files, through predict_to_file and tools/predict.py -------------


@pytest.mark.needs_torchvision
@pytest.mark.parametrize('suffix', ['.gpkg', '.geojson'])
def test_geotiff_pair_to_vector_file(model, known_probability, tmp_path,
                                     monkeypatch, suffix):
    img1, img2 = write_pair(tmp_path / 'in')
    out = tmp_path / 'out'
    renamed = []
    real_replace = os.replace

    def replace(src, dst):
        renamed.append((os.path.basename(src), os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', replace)
    summary = infer(model).predict_to_file(
        img1, img2, str(out / 'mask.tif'),
        vector_file=str(out / f'changes{suffix}'), window=WINDOW,
        stride=WINDOW, batch_size=2, progress=False, min_area=10)
    assert summary['polygons'] == 2
    assert (f'.changes.partial{suffix}', f'changes{suffix}') in renamed
    assert sorted(p.name for p in out.iterdir()) == [
        f'changes{suffix}', 'mask.tif']
    meta, features = read_features(out / f'changes{suffix}')
    assert meta['crs'] == f'EPSG:{EPSG}'
    assert list(meta['fields']) == [
        'area_px', 'area_map', 'prob_mean', 'prob_max']
    check_scene_features(features)
    with rasterio.open(out / 'mask.tif') as ds:  # the mask is unchanged
        np.testing.assert_array_equal(ds.read(1), scene_mask())


@pytest.mark.needs_torchvision
def test_png_pair_gives_pixel_coordinates(model, known_probability,
                                          tmp_path):
    img1, img2 = write_pair(tmp_path / 'in', georeferenced=False)
    vector = tmp_path / 'changes.gpkg'
    infer(model).predict_to_file(img1, img2, str(tmp_path / 'mask.png'),
                         vector_file=str(vector), window=WINDOW,
                         stride=WINDOW, progress=False)
    meta, features = read_features(vector)
    assert meta['crs'] is None
    assert 'coordinates are pixels' in meta['layer_metadata']['DESCRIPTION']
    assert [f['geometry'].bounds for f in features] == [
        (40, 4, 43, 7), (4, 24, 20, 40), (40, 50, 60, 90)]
    assert [f['area_map'] for f in features] == [9, 256, 324]
    # the same through the Python API, for arrays
    polygons = infer(model).polygons(
        np.repeat(scene_codes()[..., None], 3, axis=2),
        np.zeros((H, W, 3), np.uint8), window=WINDOW, stride=WINDOW,
        progress=False, min_area=10, simplify=0.5)
    assert sorted(p['area_px'] for p in polygons) == [256, 324]
    assert {p['geometry'].bounds for p in polygons} == {
        (4, 24, 20, 40), (40, 50, 60, 90)}
    with pytest.raises(ValueError, match='no georeferencing'):
        infer(model).polygons(*write_pair(tmp_path / 'p', False),
                              window=WINDOW, stride=WINDOW, progress=False,
                              min_area_map=1.0)


@pytest.mark.needs_torchvision
def test_failed_run_leaves_no_vector_file(model, tmp_path, monkeypatch):
    img1, img2 = write_pair(tmp_path / 'in')
    calls = []

    def failing(model, batch, amp=None):
        calls.append(1)
        if len(calls) > 2:  # after the first band was vectorised
            raise RuntimeError('interrupted')
        return lookup_probability(model, batch)

    monkeypatch.setattr(inference, 'window_probability', failing)
    monkeypatch.setattr(vectorize, 'FLUSH_FEATURES', 1)  # write at once
    out = tmp_path / 'out'
    with pytest.raises(RuntimeError, match='interrupted'):
        infer(model).predict_to_file(img1, img2, str(out / 'mask.tif'),
                             vector_file=str(out / 'changes.gpkg'),
                             window=WINDOW, stride=WINDOW, batch_size=1,
                             progress=False)
    assert list(out.iterdir()) == []


@pytest.mark.needs_torchvision
@pytest.mark.parametrize('module', ['pyogrio', 'shapely'])
def test_missing_gis_library_fails_before_inference(model, tmp_path,
                                                    monkeypatch, module,
                                                    capsys):
    img1, img2 = write_pair(tmp_path / 'in')
    calls = []
    monkeypatch.setattr(inference, 'window_probability',
                        lambda *args: calls.append(1))
    for name in list(sys.modules):
        if name == module or name.startswith(module + '.'):
            monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(UserError, match=f'pip install {module}'):
        infer(model).predict_to_file(img1, img2, str(tmp_path / 'm.tif'),
                             vector_file=str(tmp_path / 'c.gpkg'),
                             progress=False)
    with pytest.raises(SystemExit):
        load_tool('predict').main([
            DEMO_CONFIG, str(tmp_path / 'never_loaded.pth'), '--img1', img1,
            '--img2', img2, '--out', str(tmp_path / 'm.tif'), '--vector',
            str(tmp_path / 'c.gpkg')])
    assert re.search(rf'pip install {module}.*\[geo\]',
                     capsys.readouterr().err)
    assert calls == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in']


@pytest.mark.needs_torchvision
def test_predict_tool_vector_options(checkpoint, known_probability,
                                     tmp_path, log):
    img1, img2 = write_pair(tmp_path / 'in')
    out = tmp_path / 'out'
    status = load_tool('predict').main([
        DEMO_CONFIG, checkpoint, '--img1', img1, '--img2', img2, '--out',
        str(out / 'mask.tif'), '--vector', str(out / 'changes.geojson'),
        '--min-area-map', '3', '--simplify', '0.25', '--window', str(WINDOW),
        '--stride', str(WINDOW), '--no-progress'])
    assert status == 0
    assert '2 change polygon(s)' in log.text
    meta, features = read_features(out / 'changes.geojson')
    assert meta['crs'] == f'EPSG:{EPSG}'
    check_scene_features(features)  # simplifying boxes changes nothing


@pytest.mark.needs_torchvision
def test_predict_tool_refuses_simplify_larger_than_the_scene(
        checkpoint, known_probability, tmp_path, capsys):
    img1, img2 = write_pair(tmp_path / 'in')  # 32 x 48 m
    out = tmp_path / 'out'
    with pytest.raises((SystemExit, ValueError)) as error:
        load_tool('predict').main([
            DEMO_CONFIG, checkpoint, '--img1', img1, '--img2', img2,
            '--out', str(out / 'mask.tif'), '--vector',
            str(out / 'changes.gpkg'), '--simplify', '1e6', '--window',
            str(WINDOW), '--stride', str(WINDOW), '--no-progress'])
    if isinstance(error.value, SystemExit):
        assert error.value.code != 0
    said = str(error.value) + capsys.readouterr().err
    assert f'simplify 1e+06 is at least the extent of {img1} (32 x 48 map ' \
        'units)' in said
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize('extra, message', [
    (['--min-area', '5'], 'add it'),
    (['--vector', 'c.shp'], r'\.gpkg or \.geojson'),
    (['--vector', 'c.gpkg', '--min-area-map', '2'], 'not a GeoTIFF'),
    (['--vector', 'c.gpkg', '--min-area', '2', '--min-area-map', '2'],
     'not allowed with'),
    (['--vector', 'c.gpkg', '--simplify', '-1'], 'simplify'),
])
def test_predict_tool_refuses_bad_vector_options(extra, message, tmp_path,
                                                 capsys):
    with pytest.raises(SystemExit) as exit_:
        load_tool('predict').main([
            DEMO_CONFIG, 'never_loaded.pth', '--img1', 'a.png', '--img2',
            'b.png', '--out', str(tmp_path / 'm.png'), *extra])
    assert exit_.value.code != 0
    said = str(exit_.value.code) + capsys.readouterr().err
    assert re.search(message, said), said


def test_vector_output_is_for_single_pairs(capsys):
    with pytest.raises(SystemExit):
        load_tool('predict').parse_args([
            DEMO_CONFIG, 'x.pth', '--dir1', 'A', '--dir2', 'B', '--out-dir',
            'o', '--vector', 'c.gpkg'])
    assert 'one pair' in capsys.readouterr().err


# -- object-level scores of ChangeMetric -----------------------------------


def evaluate(pairs, **kwargs):
    metric = METRICS.build(dict(type='ChangeMetric', **kwargs))
    metric.dataset_meta = dict(classes=('unchanged', 'changed'))
    for pred, gt in pairs:
        metric.process({}, [dict(
            pred_sem_seg=dict(data=torch.as_tensor(pred)[None]),
            gt_sem_seg=dict(data=torch.as_tensor(gt)[None]))])
    return metric.evaluate(len(pairs))


def test_object_scores_on_known_objects():
    gt = np.zeros((20, 20), np.int64)
    pred = np.zeros_like(gt)
    gt[1:5, 1:5] = 1  # A, 16 px
    pred[1:5, 2:6] = 1  # A shifted: IoU 12 / 20 = 0.6, a match
    gt[10:12, 10:12] = 1  # B, 4 px
    pred[9:13, 9:13] = 1  # B grown: IoU 4 / 16 = 0.25, no match
    gt[15:18, 1:4] = 1  # C, missed
    metrics = evaluate([(pred, gt)], object_iou=0.5)
    assert list(metrics)[7:] == [
        'object_precision', 'object_recall', 'object_F1']
    # 1 match, 2 predicted, 3 labelled objects
    assert metrics['object_precision'] == 50.0
    assert metrics['object_recall'] == round(100 / 3, 2)
    assert metrics['object_F1'] == 40.0
    # a stricter IoU: A does not match either
    strict = evaluate([(pred, gt)], object_iou=0.7)
    assert strict['object_F1'] == 0.0
    # off by default: the pixel metrics and keys only, unchanged
    plain = evaluate([(pred, gt)])
    assert list(plain) == ['precision', 'recall', 'F1', 'IoU', 'OA', 'Kappa',
                           'mIoU']
    assert plain == {k: metrics[k] for k in plain}


def test_object_connectivity_ignored_pixels_and_empty_images():
    pred = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]])
    gt = np.array([[1, 0, 0], [0, 0, 0], [0, 0, 0]])
    four = evaluate([(pred, gt)], object_iou=0.5)
    assert (four['object_precision'], four['object_recall']) == (50.0, 100.0)
    # corners join: one predicted object of 2 px, IoU 1/2 >= 0.5
    eight = evaluate([(pred, gt)], object_iou=0.5, object_connectivity=8)
    assert (eight['object_precision'], eight['object_recall']) == (100.0,
                                                                   100.0)
    # an object predicted where the label is ignored does not count
    ignored = gt.copy()
    ignored[1, 1] = 255
    assert evaluate([(pred, ignored)],
                    object_iou=0.5)['object_precision'] == 100.0
    # no object anywhere: nothing missed, nothing wrongly found
    empty = np.zeros((3, 3), np.int64)
    assert evaluate([(empty, empty)], object_iou=0.5)['object_F1'] == 100.0
    for bad in (dict(object_iou=0), dict(object_iou=1.5),
                dict(object_iou=0.5, object_connectivity=6)):
        with pytest.raises(ValueError, match='object_'):
            METRICS.build(dict(type='ChangeMetric', **bad))
