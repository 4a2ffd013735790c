"""Nothing silently wrong on the prediction path: nodata and non-finite
pixels, value scales, outputs, arguments and folder runs (fixtures made
here, the CPU demo's small FTAN with random weights)."""
import json
import logging
import os
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from ftan_opencd import pixels
from ftan_opencd.apis import init_model
from ftan_opencd.apis import inference, inferencer, sources
from ftan_opencd.apis.writers import NODATA
from ftan_opencd.pixels import PixelScaleWarning
from ftan_opencd.errors import USER_ERROR_STATUS
from .conftest import DEMO_CONFIG, REPO, infer, load_tool

pytestmark = [
    pytest.mark.needs_torchvision,  # builds open-cd models
    pytest.mark.usefixtures('one_thread')
]

H, W = 64, 96


def images(seed=0, dtype=np.uint8, high=256):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, high, (H, W, 3)).astype(dtype)
            for _ in range(2)]


def write_tif(path, bgr, nodata=None):
    with rasterio.open(path, 'w', driver='GTiff', height=H, width=W,
                       count=3, dtype=bgr.dtype.name, nodata=nodata,
                       crs='EPSG:32633',
                       transform=from_origin(5e5, 4.6e6, 1, 1)) as ds:
        ds.write(np.moveaxis(bgr[..., ::-1], -1, 0))
    return str(path)


def run(model, *imgs, **kwargs):
    return infer(model)(*imgs, window=64, stride=48,
                        return_prob=True, progress=False, **kwargs)


def test_non_finite_pixels_are_nodata_and_do_not_spread(model):
    img1, img2 = (img.astype(np.float32) for img in images(1))
    img2[10:14, 20:24] = np.nan
    img1[40, 50] = np.inf
    mask, prob = run(model, img1, img2)
    invalid = np.zeros((H, W), bool)
    invalid[10:14, 20:24] = invalid[40, 50] = True
    np.testing.assert_array_equal(mask == NODATA, invalid)
    assert np.isnan(prob[invalid]).all()
    assert np.isfinite(prob[~invalid]).all()
    assert set(np.unique(mask[~invalid])) <= {0, 1}


def test_declared_nodata_is_masked_and_written_as_nodata(model, tmp_path):
    img1, img2 = images(2)
    img1[:, :W // 2] = 0  # the left half has no data in date 1
    paths = [write_tif(tmp_path / 'a.tif', img1, nodata=0),
             write_tif(tmp_path / 'b.tif', img2)]
    out = tmp_path / 'out' / 'mask.tif'
    summary = infer(model).predict_to_file(*paths, str(out),
                                   prob_file=str(tmp_path / 'out/p.tif'),
                                   window=64, stride=48, progress=False)
    assert summary['nodata'] == H * W // 2
    with rasterio.open(out) as ds:
        assert ds.nodata == NODATA
        mask = ds.read(1)
        assert ds.crs.to_epsg() == 32633
    assert (mask[:, :W // 2] == NODATA).all()
    assert set(np.unique(mask[:, W // 2:])) <= {0, 1}
    with rasterio.open(tmp_path / 'out/p.tif') as ds:
        assert np.isnan(ds.nodata)
        assert np.isnan(ds.read(1)[:, :W // 2]).all()
    # the same nodata given as an option for arrays
    mask_api, _ = run(model, img1, img2, nodata=0)
    np.testing.assert_array_equal(mask_api == NODATA, mask == NODATA)


@pytest.mark.parametrize('dtype, high, max_value, says', [
    (np.float32, 1.0, 1.0, 'on a 0..1 scale'),  # reflectance
    (np.uint16, 4096, 4095, '12-bit'),  # 12-bit data in a 16-bit array
    # float on 0..25500 (e.g. reflectance x 10000 + offset), taken as 0..255
    (np.float32, 25500.0, 25500.0, 'float data is taken to be on 0..255 '
     r'already, so the model sees values up to 100 times'),
])
def test_scale_that_looks_wrong_warns_naming_the_option(
        model, dtype, high, max_value, says):
    rng = np.random.default_rng(3)
    imgs = [(rng.random((H, W, 3)) * high).astype(dtype) for _ in range(2)]
    imgs[0][0, 0, 0] = max_value  # the peak the message quotes
    with pytest.warns(PixelScaleWarning, match=says) as caught:
        run(model, *imgs)
    assert all('max_value' in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter('error', PixelScaleWarning)
        _, prob = run(model, *imgs, max_value=max_value)
    _, prob_255 = run(model, *[
        img.astype(np.float32) * np.float32(255 / max_value) for img in imgs
    ])
    np.testing.assert_allclose(prob, prob_255, atol=1e-5)


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
def test_raster_scale_sample_is_a_regular_grid_read_in_blocks(
        tmp_path, monkeypatch, dtype):
    """The value-range sample of a GeoTIFF: every step-th pixel of every
    step-th row, the same over several row blocks as from one full read."""
    monkeypatch.setattr(sources, 'SCALE_SAMPLE', 24)  # step 96 // 24 = 4
    row_bytes = W * 3 * np.dtype(dtype).itemsize
    monkeypatch.setattr(sources, 'SAMPLE_READ_BYTES', row_bytes * 4 * 3)
    img = np.random.default_rng(5).integers(0, 250, (H, W, 3)).astype(dtype)
    path = write_tif(tmp_path / 'a.tif', img)
    with rasterio.open(path) as ds:
        sample = sources.scale_sample(ds, [1, 2, 3])
        full = np.moveaxis(ds.read([1, 2, 3]), 0, -1)
    np.testing.assert_array_equal(sample, full[::4, ::4])
    assert sample.shape == (-(-H // 4), -(-W // 4), 3)


def test_scale_check_of_a_geotiff_sees_a_peak_on_the_grid(
        model, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, 'SCALE_SAMPLE', 24)
    imgs = [np.full((H, W, 3), 1000, np.uint16) for _ in range(2)]
    imgs[0][8, 12] = 4000  # on the grid of step 4: seen
    paths = [write_tif(tmp_path / f'{k}.tif', img)
             for k, img in enumerate(imgs)]
    with pytest.warns(PixelScaleWarning, match='4000'):
        run(model, *paths)


def test_scale_warning_is_logged_even_with_warnings_ignored(
        model, log, monkeypatch):
    log.set_level(logging.WARNING)
    monkeypatch.setattr(pixels, '_LOGGED_SCALE_WARNINGS', set())
    imgs = images(12, np.uint16, 3000)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        run(model, *imgs)
        run(model, *imgs)  # the same messages: not logged again
    messages = [r.getMessage() for r in log.records
                if 'PixelScaleWarning' in r.getMessage()]
    # one per date, not repeated by the second run
    assert [m.split(':')[1].strip() for m in messages] == ['img1', 'img2']
    assert all('12-bit' in m and 'max_value' in m for m in messages)
    assert all(r.levelno == logging.WARNING for r in log.records)


def test_scale_warnings_logged_for_a_few_images_only(log, monkeypatch):
    log.set_level(logging.WARNING)
    monkeypatch.setattr(pixels, '_LOGGED_SCALE_WARNINGS', set())
    monkeypatch.setattr(pixels, 'MAX_LOGGED_SCALE_WARNINGS', 2)
    with pytest.warns(PixelScaleWarning):
        for i in range(5):
            pixels.check_scale(np.full((4, 4, 3), 100 + i, np.uint16),
                               f'image{i}')
    messages = [r.getMessage() for r in log.records]
    assert [m.split(':')[1].strip() for m in messages[:2]] == [
        'image0', 'image1']
    assert messages[2:] == ['PixelScaleWarning: more than 2 images look '
                            'like another scale; the others are not logged']


def test_predict_tool_shows_scale_warning_under_pythonwarnings_ignore(
        checkpoint, tmp_path):
    paths = [str(tmp_path / f'{name}.png') for name in 'ab']
    for path, img in zip(paths, images(13, np.uint16, 4096)):
        cv2.imwrite(path, img)
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    done = subprocess.run(
        [sys.executable, os.path.join(REPO, 'tools', 'predict.py'),
         DEMO_CONFIG, checkpoint, '--img1', paths[0], '--img2', paths[1],
         '--out', str(tmp_path / 'mask.png'), '--no-progress'],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    said = done.stdout + done.stderr
    assert f'PixelScaleWarning: {paths[0]}: the largest value is' in said
    assert 'UserWarning' not in said  # Python warnings are off


def test_values_above_max_value_are_refused(model):
    imgs = images(4, np.uint16, 4096)
    with pytest.raises(ValueError, match='max_value is 1023'):
        run(model, *imgs, max_value=1023)


def test_dates_must_agree_in_type_and_bands(model):
    img1, img2 = images(5)
    with pytest.raises(ValueError, match='pixel type'):
        run(model, img1, img2.astype(np.uint16) * 257)
    with pytest.raises(ValueError, match='pixel type'):
        run(model, img1, img2[..., 0])


@pytest.mark.parametrize('kwargs, message', [
    (dict(threshold=1.5), 'threshold'),
    (dict(threshold=-1), 'threshold'),
    (dict(threshold=float('nan')), 'threshold'),
    (dict(window=128.0), 'window must be an integer'),
    (dict(batch_size=0), 'batch_size'),
    (dict(channel_order='rbg'), 'channel_order'),
])
def test_bad_arguments_are_refused(model, kwargs, message):
    imgs = images(6)
    call = dict(window=64, stride=48, progress=False)
    call.update(kwargs)
    if 'window' in kwargs:
        call['stride'] = 48
    with pytest.raises(ValueError, match=message):
        infer(model)(*imgs, **call)


def test_rgb_arrays_with_channel_order(model):
    bgr1, bgr2 = images(7)
    expected, _ = run(model, bgr1, bgr2)
    rgb_mask, _ = run(model, bgr1[..., ::-1], bgr2[..., ::-1],
                      channel_order='rgb')
    np.testing.assert_array_equal(rgb_mask, expected)


@pytest.mark.parametrize('kind', ['tensor', 'list'])
def test_other_input_types_say_what_is_accepted(model, kind):
    img1, img2 = images(8)
    other = torch.from_numpy(img1) if kind == 'tensor' else img1.tolist()
    with pytest.raises(TypeError, match='file path or an HxWxC numpy'):
        run(model, other, img2)


def test_small_sides_warn(model, monkeypatch):
    logged = []
    monkeypatch.setattr(inferencer, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    img1, img2 = (img[:20, :40] for img in images(9))
    infer(model)(img1, img2, window=64, stride=48, progress=False)
    assert any('20x40 has a side under 32 px' in msg for msg in logged)


@pytest.mark.parametrize('suffix', ['.jpg', '.xyz', ''])
def test_lossy_or_unknown_output_refused_before_the_model_loads(
        tmp_path, suffix, capsys):
    a, b = (tmp_path / 'a.png', tmp_path / 'b.png')
    for path, img in zip((a, b), images(10)):
        cv2.imwrite(str(path), img)
    with pytest.raises(SystemExit) as exit_info:
        load_tool('predict').main([
            DEMO_CONFIG, str(tmp_path / 'no_such_checkpoint.pth'), '--img1',
            str(a), '--img2', str(b), '--out', str(tmp_path / f'm{suffix}')])
    assert exit_info.value.code == USER_ERROR_STATUS
    assert 'lossy or unknown' in capsys.readouterr().err


def test_output_that_is_an_input_is_refused(tmp_path, capsys):
    a, b = (tmp_path / 'a.png', tmp_path / 'b.png')
    for path, img in zip((a, b), images(11)):
        cv2.imwrite(str(path), img)
    before = a.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        load_tool('predict').main([
            DEMO_CONFIG, str(tmp_path / 'x.pth'), '--img1', str(a),
            '--img2', str(b), '--out', str(a)])
    assert exit_info.value.code == USER_ERROR_STATUS
    assert 'is an input' in capsys.readouterr().err
    assert a.read_bytes() == before


@pytest.mark.parametrize('suffix', ['.png', '.tif'])
def test_failed_run_leaves_no_output(model, tmp_path, monkeypatch, suffix):
    calls = []

    def failing(model, batch, amp=None):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError('interrupted')
        return np.zeros(batch.shape[:3], np.float32)

    monkeypatch.setattr(inference, 'window_probability', failing)
    with pytest.raises(RuntimeError, match='interrupted'):
        infer(model).predict_to_file(*images(12), str(tmp_path / f'm{suffix}'),
                             window=32, stride=32, batch_size=1,
                             progress=False)
    assert list(tmp_path.iterdir()) == []


def test_folder_run_reports_bad_pairs_and_goes_on(checkpoint, tmp_path,
                                                  log):
    dir1, dir2, out = tmp_path / 'A', tmp_path / 'B', tmp_path / 'out'
    dir1.mkdir()
    dir2.mkdir()
    for name, seed in (('good1.png', 1), ('good2.png', 2)):
        for folder, img in zip((dir1, dir2), images(seed)):
            cv2.imwrite(str(folder / name), img)
    (dir1 / 'empty.png').write_bytes(b'')
    cv2.imwrite(str(dir2 / 'empty.png'), images(3)[0])
    status = load_tool('predict').main([
        DEMO_CONFIG, checkpoint, '--dir1', str(dir1), '--dir2', str(dir2),
        '--out-dir', str(out), '--window', '64', '--no-progress'])
    assert status == 1
    assert sorted(p.name for p in out.iterdir()) == [
        'good1.png', 'good2.png', 'predict_summary.json']
    summary = json.loads((out / 'predict_summary.json').read_text())
    assert not summary['complete'] and summary['failed'] == 1
    printed = log.text
    assert 'empty.png' in printed and 'INCOMPLETE' in printed


def test_unknown_or_missing_device_is_explained():
    with pytest.raises(ValueError, match='gpu: unknown device'):
        init_model(DEMO_CONFIG, device='gpu')
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='no CUDA GPU is visible'):
            init_model(DEMO_CONFIG, device='cuda:0')


def test_amp_runs_bf16_where_native_and_agrees_with_float32(model,
                                                           monkeypatch):
    from ftan_opencd.utils import precision
    seen = []
    handle = model.backbone.patch_embeds[0].register_forward_hook(
        lambda m, args, out: seen.append(out.dtype))
    try:
        imgs = images(13)
        mask32, prob32 = run(model, *imgs)
        monkeypatch.setattr(precision, 'cpu_bf16_flags',
                            lambda: ('avx512_bf16', ))
        mask16, prob16 = run(model, *imgs, amp=True)
        monkeypatch.setattr(precision, 'cpu_bf16_flags', lambda: ())
        run(model, *imgs, amp=True)  # no native bf16: float32
    finally:
        handle.remove()
    assert torch.bfloat16 in seen and seen[-1] == torch.float32
    assert prob16.dtype == np.float32
    np.testing.assert_allclose(prob16, prob32, atol=0.05)
    assert (mask16 == mask32).mean() > 0.97


def test_compare_precision_tool(checkpoint, tmp_path, monkeypatch, capsys):
    from ftan_opencd.utils import precision
    monkeypatch.setattr(precision, 'cpu_bf16_flags', lambda: ('amx_bf16', ))
    for sub in ('A', 'B', 'label'):
        (tmp_path / 'test' / sub).mkdir(parents=True)
    for i in range(2):
        for sub, img in zip(('A', 'B'), images(20 + i)):
            cv2.imwrite(str(tmp_path / 'test' / sub / f'{i}.png'), img)
        cv2.imwrite(str(tmp_path / 'test' / 'label' / f'{i}.png'),
                    np.zeros((H, W), np.uint8))
    tool = load_tool('compare_precision')
    assert tool.main([DEMO_CONFIG, checkpoint, '--data-root',
                      str(tmp_path), '--window', '64']) == 0
    out = capsys.readouterr().out
    assert f'2 pairs of {tmp_path}/test' in out
    assert 'agree on' in out and 'bf16     change F1' in out
    monkeypatch.setattr(precision, 'cpu_bf16_flags', lambda: ())
    assert tool.main([DEMO_CONFIG, checkpoint, '--data-root',
                      str(tmp_path)]) == 1
