"""Tests of sliding-window inference, GeoTIFF I/O, tools/predict.py and
tools/activation_maps.py, on the CPU demo's small FTAN (0.7 M parameters)
with random weights, so that every test runs in seconds on a CPU.
"""
import itertools
import json
import sys

import cv2
import numpy as np
import pytest
import rasterio
import torch
from mmseg.structures import SegDataSample
from rasterio.crs import CRS
from rasterio.transform import from_origin

import ftan_opencd  # noqa: F401 - registers FTAN in open-cd
from ftan_opencd.apis.folders import pair_folders
from ftan_opencd.apis.gradcam import fdm_bypassed
from ftan_opencd.apis.inference import change_probability, forward_logits
from ftan_opencd.apis.sliding_window import (RowBlender, WindowLayout,
                                             row_bands, window_rows_of_band,
                                             window_starts)
from ftan_opencd.pixels import import_rasterio
from .conftest import DEMO_CONFIG, infer, load_tool

pytestmark = [
    pytest.mark.needs_torchvision,  # builds open-cd models
    pytest.mark.usefixtures('one_thread')
]

H, W = 100, 140  # odd sizes, not multiples of 32
CRS_UTM = CRS.from_epsg(32633)
TRANSFORM = from_origin(500000.0, 4600000.0, 0.5, 0.5)


def random_pair(height=H, width=W, seed=0):
    """Two uint8 BGR images with a changed square."""
    rng = np.random.default_rng(seed)
    img1 = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    img2 = img1.copy()
    img2[height // 4:height // 2, width // 4:width // 2] = 255
    return img1, img2


def write_geotiff(path, bgr, crs=CRS_UTM, transform=TRANSFORM):
    """Write an HxWx3 BGR image as an RGB GeoTIFF."""
    rgb = np.moveaxis(bgr[..., ::-1], -1, 0)
    with rasterio.open(path, 'w', driver='GTiff', height=bgr.shape[0],
                       width=bgr.shape[1], count=3, dtype='uint8', crs=crs,
                       transform=transform) as dst:
        dst.write(rgb)


def open_cd_probability(model, img1, img2):
    """Change probability from open-cd's own test path (test_step)."""
    inputs = torch.from_numpy(np.concatenate([img1, img2], 2)).permute(
        2, 0, 1)
    sample = SegDataSample(metainfo=dict(img_shape=img1.shape[:2],
                                         ori_shape=img1.shape[:2]))
    with torch.no_grad():
        out = model.test_step(dict(inputs=[inputs], data_samples=[sample]))
    return change_probability(out[0].seg_logits.data[None])[0].numpy()


def test_window_larger_than_image_equals_open_cd_whole_inference(model):
    img1, img2 = random_pair()
    mask, prob = infer(model)(img1, img2, window=256,
                              return_prob=True, progress=False)
    assert mask.shape == prob.shape == (H, W)
    assert mask.dtype == np.uint8 and prob.dtype == np.float32
    np.testing.assert_allclose(prob, open_cd_probability(model, img1, img2),
                               atol=1e-5)
    np.testing.assert_array_equal(mask, (prob > 0.5).astype(np.uint8))


def test_non_overlapping_windows_equal_per_tile_inference(model):
    img1, img2 = random_pair(128, 192, seed=1)
    prob = infer(model)(img1, img2, window=64, stride=64,
                        batch_size=4, return_prob=True, progress=False)[1]
    for top in (0, 64):
        for left in (0, 64, 128):
            tile = (slice(top, top + 64), slice(left, left + 64))
            np.testing.assert_allclose(
                prob[tile], open_cd_probability(model, img1[tile],
                                                img2[tile]), atol=1e-5)


def test_overlapping_windows_odd_size_and_batch_invariance(model):
    img1, img2 = random_pair(seed=2)
    mask, prob = infer(model)(img1, img2, window=64, stride=40,
                              batch_size=5, return_prob=True, progress=False)
    assert mask.shape == prob.shape == (H, W)
    assert set(np.unique(mask)) <= {0, 1}
    assert 0 <= prob.min() and prob.max() <= 1
    prob_1 = infer(model)(img1, img2, window=64, stride=40,
                          batch_size=1, return_prob=True, progress=False)[1]
    np.testing.assert_allclose(prob, prob_1, atol=1e-5)
    strict = infer(model)(img1, img2, window=64, stride=40,
                          threshold=0.99, progress=False)
    np.testing.assert_array_equal(strict, (prob > 0.99).astype(np.uint8))


def test_window_layout_covers_every_pixel():
    assert window_starts(100, 64, 40) == [0, 36]
    assert window_starts(140, 64, 40) == [0, 40, 76]
    assert window_starts(50, 64, 40) == [0]
    layout = WindowLayout(H, W, 64, 40)
    assert layout.weight_map().min() > 0
    # A regular layout is a partition of unity.
    np.testing.assert_allclose(
        WindowLayout(64 + 3 * 40, 64 + 4 * 40, 64, 40).weight_map(), 1,
        atol=1e-6)
    with pytest.raises(ValueError, match='stride'):
        WindowLayout(H, W, 64, 65)


def band_work(layout, bands):
    """Window rows each band computes (none for an empty band)."""
    return [len(window_rows_of_band(layout, start, stop)) if start < stop
            else 0 for start, stop in bands]


@pytest.mark.parametrize('height,window,step,count', [
    (4096, 256, 192, 2), (4096, 256, 192, 3), (2048, 256, 192, 2),
    (400, 64, 48, 2), (1000, 256, 256, 2), (4096, 256, 64, 4),
    (1024, 256, 192, 5), (300, 256, 192, 2)])
def test_row_bands_balance_the_window_rows_each_band_computes(
        height, window, step, count):
    layout = WindowLayout(height, 64, window, step)
    bands = row_bands(layout, count)
    assert len(bands) == count
    assert bands[0][0] == 0 and bands[-1][1] == height
    assert all(a[1] == b[0] for a, b in zip(bands, bands[1:]))
    assert all(start in layout.rows or start == height
               for start, _ in bands)
    work = band_work(layout, bands)
    # the smallest largest band over every choice of cuts on window tops
    best = min(max(band_work(layout, zip((0, ) + cuts, cuts + (height, ))))
               for cuts in itertools.combinations_with_replacement(
                   list(layout.rows[1:]) + [height], count - 1))
    assert max(work) == best
    assert work[0] == min(work[:len([b for b in bands if b[0] < b[1]])])


def test_row_bands_of_a_4096_scene_share_the_overlap_row_evenly():
    layout = WindowLayout(4096, 4096, 256, 192)  # 21 window rows
    bands = row_bands(layout, 2)
    assert band_work(layout, bands) == [11, 11]  # 10 + 1 shared, 11
    assert row_bands(WindowLayout(256, 256, 256, 192), 3) == [
        (0, 256), (256, 256), (256, 256)]  # one window row: rank 0 alone


def test_row_blender_streams_the_full_weighted_average():
    layout = WindowLayout(H, W, 64, 40)
    rng = np.random.default_rng(0)
    probs = {(t, left): rng.random((64, 64)).astype(np.float32)
             for t in layout.rows for left in layout.cols}
    total = np.zeros((H, W))
    weight = np.zeros((H, W))
    for (top, left), prob in probs.items():
        wgt = layout.weight(top, left)
        total[top:top + 64, left:left + 64] += wgt * prob
        weight[top:top + 64, left:left + 64] += wgt
    blender = RowBlender(layout)
    blocks = []
    for top in layout.rows:
        blocks += list(blender.release(top))
        for left in layout.cols:
            blender.add(top, left, probs[top, left])
    blocks += list(blender.release(H))
    assert [b[0] for b in blocks] == [0] + layout.rows[1:]
    streamed = np.concatenate([b[1] for b in blocks])
    np.testing.assert_allclose(streamed, total / weight, atol=1e-6)
    ones = RowBlender(layout)
    out = []
    for top in layout.rows:
        out += [b for _, b in ones.release(top)]
        for left in layout.cols:
            ones.add(top, left, np.ones((64, 64), np.float32))
    out += [b for _, b in ones.release(H)]
    np.testing.assert_allclose(np.concatenate(out), 1, atol=1e-6)


def test_geotiff_round_trip_keeps_crs_and_transform(model, tmp_path):
    img1, img2 = random_pair(seed=3)
    path1, path2 = str(tmp_path / 't1.tif'), str(tmp_path / 't2.tif')
    write_geotiff(path1, img1)
    write_geotiff(path2, img2)
    out, prob_out = str(tmp_path / 'change.tif'), str(tmp_path / 'prob.tif')
    infer(model).predict_to_file(path1, path2, out, prob_out, window=64,
                         stride=48, progress=False)
    expected_mask, expected_prob = infer(model)(
        img1, img2, window=64, stride=48, return_prob=True,
        progress=False)
    with rasterio.open(out) as ds:
        assert ds.crs == CRS_UTM and ds.transform == TRANSFORM
        assert (ds.count, ds.height, ds.width) == (1, H, W)
        assert ds.dtypes[0] == 'uint8'
        # Bands were read as RGB and fed in the BGR order of the arrays.
        np.testing.assert_array_equal(ds.read(1), expected_mask)
    with rasterio.open(prob_out) as ds:
        assert ds.crs == CRS_UTM and ds.transform == TRANSFORM
        assert ds.dtypes[0] == 'float32'
        np.testing.assert_allclose(ds.read(1), expected_prob, atol=1e-6)


@pytest.mark.parametrize('change, what', [
    (dict(transform=from_origin(500010.0, 4600000.0, 0.5, 0.5)),
     'geotransform'),
    (dict(crs=CRS.from_epsg(4326)), 'CRS'),
    (dict(shape=(H, W - 1)), 'size'),
])
def test_mismatched_pair_is_refused_naming_both_files(model, tmp_path,
                                                      change, what):
    img1, img2 = random_pair(seed=4)
    if 'shape' in change:
        img2 = img2[:, :change['shape'][1]]
    path1, path2 = str(tmp_path / 'first.tif'), str(tmp_path / 'second.tif')
    write_geotiff(path1, img1)
    write_geotiff(path2, img2, crs=change.get('crs', CRS_UTM),
                  transform=change.get('transform', TRANSFORM))
    with pytest.raises(ValueError) as err:
        infer(model)(path1, path2, progress=False)
    message = str(err.value)
    assert path1 in message and path2 in message and what in message


def test_png_pair_gives_png_0_255_mask(model, tmp_path):
    img1, img2 = random_pair(seed=5)
    cv2.imwrite(str(tmp_path / 'a.png'), img1)
    cv2.imwrite(str(tmp_path / 'b.png'), img2)
    out = str(tmp_path / 'out' / 'mask.png')
    infer(model).predict_to_file(str(tmp_path / 'a.png'),
                         str(tmp_path / 'b.png'), out, window=64,
                         stride=48, progress=False)
    written = cv2.imread(out, cv2.IMREAD_UNCHANGED)
    expected = infer(model)(img1, img2, window=64, stride=48,
                            progress=False)
    np.testing.assert_array_equal(written, expected * 255)


def test_missing_rasterio_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, 'rasterio', None)
    with pytest.raises(ImportError, match=r'pip install rasterio'):
        import_rasterio()


def test_folder_mode_pairs_by_name(checkpoint, tmp_path, log):
    dir1, dir2, out_dir = tmp_path / 'A', tmp_path / 'B', tmp_path / 'out'
    dir1.mkdir()
    dir2.mkdir()
    for i, name in enumerate(('x.png', 'y.png')):
        img1, img2 = random_pair(64, 64, seed=10 + i)
        cv2.imwrite(str(dir1 / name), img1)
        cv2.imwrite(str(dir2 / name), img2)
    cv2.imwrite(str(dir1 / 'only_in_a.png'), img1)
    cv2.imwrite(str(dir2 / 'only_in_b.png'), img2)
    assert pair_folders(str(dir1), str(dir2)) == (
        ['x.png', 'y.png'], ['only_in_a.png'], ['only_in_b.png'])
    status = load_tool('predict').main([
        DEMO_CONFIG, checkpoint, '--dir1', str(dir1), '--dir2', str(dir2),
        '--out-dir', str(out_dir), '--window', '64', '--prob',
        '--no-progress'
    ])
    assert status == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        'predict_summary.json', 'x.png', 'x_prob.png', 'y.png', 'y_prob.png']
    summary = json.loads((out_dir / 'predict_summary.json').read_text())
    assert summary['complete'] and summary['pairs'] == 2
    printed = log.text
    assert 'only_in_a.png' in printed and 'only_in_b.png' in printed


def test_activation_maps_for_each_stage_with_and_without_fdm(
        model, checkpoint, tmp_path):
    img1, img2 = random_pair(64, 96, seed=6)
    cv2.imwrite(str(tmp_path / 'a.png'), img1)
    cv2.imwrite(str(tmp_path / 'b.png'), img2)
    out_dir = tmp_path / 'cams'
    status = load_tool('activation_maps').main([
        DEMO_CONFIG, checkpoint, '--img1', str(tmp_path / 'a.png'),
        '--img2', str(tmp_path / 'b.png'), '--out-dir', str(out_dir)
    ])
    assert status == 0
    for stage in range(4):
        for date in ('t1', 't2'):
            for variant in ('with-fdm', 'without-fdm'):
                img = cv2.imread(
                    str(out_dir / f'stage{stage}_{date}_{variant}.png'))
                assert img.shape == (64, 96, 3)
    assert (out_dir / 'grid.png').is_file()
    # Bypassing FDM-AC changes the network and restores it afterwards.
    x = torch.rand(1, 6, 64, 64)
    with torch.no_grad():
        before = forward_logits(model, x)
        with fdm_bypassed(model):
            assert all(m.fdm is None for m in model.modules()
                       if hasattr(m, 'fdm'))
            bypassed = forward_logits(model, x)
        after = forward_logits(model, x)
    assert not torch.allclose(before, bypassed)
    assert torch.equal(before, after)


def test_open_cd_inferencer_gives_the_ftan_inferencer_mask(model, checkpoint,
                                                        tmp_path):
    """open-cd's standard entry point runs the config's test pipeline
    (open-cd's loader + CDConformPixels) and agrees with FTANInferencer.

    classes/palette are passed because open-cd 1.1.0's inferencer reads
    ``model.dataset_meta.classes`` from the dict mmseg stores there.
    """
    from opencd.apis import OpenCDInferencer
    img1, img2 = random_pair(128, 160, seed=5)
    paths = [str(tmp_path / 'a.png'), str(tmp_path / 'b.png')]
    for path, img in zip(paths, (img1, img2)):
        cv2.imwrite(path, img)
    inferencer = OpenCDInferencer(
        model=DEMO_CONFIG, weights=checkpoint, device='cpu',
        classes=('unchanged', 'changed'), palette=[[0, 0, 0],
                                                   [255, 255, 255]])
    result = inferencer([paths], return_datasamples=True)
    mask, prob = infer(model)(*paths, window=160, stride=160,
                              return_prob=True, progress=False)
    logits = result.seg_logits.data[None]
    np.testing.assert_allclose(change_probability(logits)[0].numpy(), prob,
                               rtol=0, atol=1e-6)
    assert prob.std() > 1e-3  # a real map, not a constant
    np.testing.assert_array_equal(result.pred_sem_seg.data[0].numpy(), mask)
