"""FTANInferencer: options, defaults shared with tools/predict.py, calls."""
import dataclasses
import json
import os

import cv2
import numpy as np
import pytest

from ftan_opencd.apis import (FTANInferencer, PixelOptions, PolygonOptions,
                              WindowOptions)
from ftan_opencd.apis.options import route_options
from ftan_opencd.errors import USER_ERROR_STATUS, UserError
from ftan_opencd.utils.user_errors import SWAP_HINT
from .conftest import DEMO_CONFIG, infer, load_tool


def pair(seed, size=64):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            for _ in range(2)]


def cli_options(*extra):
    args = load_tool('predict').parse_args(
        [DEMO_CONFIG, 'c.pth', '--img1', 'a.png', '--img2', 'b.png', '--out',
         'm.png', *extra])
    return args.options


def test_cli_defaults_are_the_api_defaults():
    assert cli_options() == dict(window=WindowOptions(),
                                 pixels=PixelOptions(),
                                 polygons=PolygonOptions())
    api = FTANInferencer.from_model(object())
    assert (api.window, api.pixels, api.polygon_options) == (
        WindowOptions(), PixelOptions(), PolygonOptions())


@pytest.mark.parametrize('window, step', [(256, 192), (128, 96), (64, 48),
                                          (1, 1)])
def test_stride_default_follows_the_window_in_api_and_cli(window, step):
    assert WindowOptions(window=window).step == step
    assert cli_options('--window', str(window))['window'].step == step


def test_an_explicit_stride_is_kept():
    assert WindowOptions(window=128, stride=128).step == 128
    assert cli_options('--window', '128', '--stride', '64')['window'] == \
        WindowOptions(128, 64)


@pytest.mark.parametrize('make, message', [
    (lambda: WindowOptions(window=0), 'window must be an integer >= 1'),
    (lambda: WindowOptions(window=64, stride=65), 'need stride <= window'),
    (lambda: WindowOptions(batch_size=2.5), 'batch_size must be an integer'),
    (lambda: WindowOptions(threshold=1.0), 'strictly between 0 and 1'),
    (lambda: WindowOptions(threshold=True), 'strictly between 0 and 1'),
    (lambda: PixelOptions(channel_order='RGB'), "channel_order must be"),
    (lambda: PolygonOptions(connectivity=6), 'connectivity must be 4'),
    (lambda: PolygonOptions(simplify=-1), 'simplify must be a tolerance'),
])
def test_options_are_checked_when_built(make, message):
    with pytest.raises(UserError, match=message):
        make()


def test_options_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        WindowOptions().window = 128


def base_options():
    return dict(window=WindowOptions(), pixels=PixelOptions(),
                polygons=PolygonOptions(), amp=False, progress=True)


def test_call_keywords_are_routed_to_their_stage():
    base = base_options()
    routed = route_options(base, dict(window=128, nodata=0, progress=False))
    assert routed['window'] == WindowOptions(window=128)
    assert routed['window'].step == 96
    assert routed['pixels'] == PixelOptions(nodata=0)
    assert routed['progress'] is False
    assert base == base_options()  # the inferencer's own are unchanged
    stage = WindowOptions(window=32, stride=16)
    assert route_options(base, dict(window=stage))['window'] is stage


@pytest.mark.parametrize('overrides, allowed, message', [
    (dict(strde=10), ('window', 'pixels'), "unknown option 'strde'"),
    (dict(simplify=1.0), ('window', 'pixels'), "unknown option 'simplify'"),
    (dict(pixels=dict(nodata=0)), ('window', 'pixels'),
     'pixels must be a PixelOptions'),
    (dict(stride=500), ('window', 'pixels'), 'need stride <= window'),
])
def test_bad_call_keywords_are_refused(overrides, allowed, message):
    with pytest.raises(UserError, match=message):
        route_options(base_options(), overrides, allowed)


def test_a_polygon_option_on_a_mask_call_is_an_error(model):
    with pytest.raises(UserError, match="unknown option 'min_area'"):
        infer(model)(*pair(1), min_area=5, progress=False)


def test_built_from_files_equals_built_around_the_model(model, checkpoint):
    img1, img2 = pair(2, 96)
    built = FTANInferencer(DEMO_CONFIG, checkpoint, progress=False,
                           window=WindowOptions(window=64))
    mask, prob = built(img1, img2, return_prob=True)
    expected, expected_prob = infer(model, progress=False)(
        img1, img2, return_prob=True, window=64)
    assert mask.shape == (96, 96) and set(np.unique(mask)) <= {0, 1}
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_allclose(prob, expected_prob, atol=1e-6)
    # the per-call override changed nothing of the inferencer
    assert built.window == WindowOptions(window=64)


def write_folders(root, names):
    for folder in ('A', 'B'):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        for folder, img in zip(('A', 'B'), pair(10 + i)):
            cv2.imwrite(str(root / folder / name), img)


def test_predict_folder_skips_complete_outputs(model, tmp_path):
    write_folders(tmp_path, ['x.png', 'y.png', 'z.png'])
    inferencer = infer(model, progress=False)
    out = tmp_path / 'out'
    first = inferencer.predict_folder(str(tmp_path / 'A'),
                                      str(tmp_path / 'B'), str(out),
                                      window=64)
    assert first['complete'] and first['pairs'] == 3
    kept = (out / 'x.png').stat().st_mtime_ns
    os.remove(out / 'y.png')
    again = inferencer.predict_folder(str(tmp_path / 'A'),
                                      str(tmp_path / 'B'), str(out),
                                      skip_existing=True, window=64)
    assert [r['status'] for r in again['results']] == [
        'skipped', 'ok', 'skipped']
    assert (out / 'y.png').is_file()
    assert (out / 'x.png').stat().st_mtime_ns == kept
    on_disk = json.loads((out / 'predict_summary.json').read_text())
    assert on_disk == again


def test_predict_tool_skip_existing_needs_a_folder_run(capsys):
    with pytest.raises(SystemExit):
        load_tool('predict').parse_args([
            DEMO_CONFIG, 'c.pth', '--img1', 'a.png', '--img2', 'b.png',
            '--out', 'm.png', '--skip-existing'])
    assert '--skip-existing belongs to folder runs' in capsys.readouterr().err


def run_predict(tmp_path, capsys, config, checkpoint, out):
    for name, img in zip(('a.png', 'b.png'), pair(3)):
        cv2.imwrite(str(tmp_path / name), img)
    with pytest.raises(SystemExit) as exit_info:
        load_tool('predict').main([
            config, checkpoint, '--img1', str(tmp_path / 'a.png'), '--img2',
            str(tmp_path / 'b.png'), '--out', out])
    assert exit_info.value.code == USER_ERROR_STATUS
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: ')
    return err[0]


def test_predict_tool_refuses_an_unwritable_output_before_loading(
        tmp_path, capsys):
    message = run_predict(tmp_path, capsys, DEMO_CONFIG,
                          str(tmp_path / 'never_loaded.pth'), '/proc/m.png')
    assert 'cannot write /proc/m.png' in message


def test_predict_tool_names_a_swapped_config_and_checkpoint(
        checkpoint, tmp_path, capsys):
    message = run_predict(tmp_path, capsys, checkpoint, DEMO_CONFIG,
                          str(tmp_path / 'm.png'))
    assert SWAP_HINT in message
    assert not (tmp_path / 'm.png').exists()
