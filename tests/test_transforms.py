"""Tests of the bi-temporal loaders and photometric transforms."""
import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

import ftan_opencd  # noqa: F401 - registers the transforms
from ftan_opencd.datasets.transforms.photometric import (adjust_brightness,
                                                         adjust_contrast,
                                                         adjust_hue,
                                                         adjust_saturation)
from opencd.registry import TRANSFORMS

H, W = 24, 32


def random_image(seed=0, shape=(H, W, 3)):
    """Smooth-ish random uint8 BGR image (non-constant)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def pair_results(img1, img2=None):
    img2 = img1.copy() if img2 is None else img2
    label = (np.arange(H * W).reshape(H, W) % 2).astype(np.uint8)
    return dict(img=[img1.copy(), img2.copy()], gt_seg_map=label,
                seg_fields=['gt_seg_map'])


def build(cfg):
    return TRANSFORMS.build(cfg)


@pytest.mark.parametrize('name', [
    'BitemporalGaussianBlur', 'BitemporalColorJitter', 'CDLoadImagePair',
    'CDLoadChangeLabel'
])
def test_registered(name):
    assert TRANSFORMS.get(name) is not None


# --------------------------------------------------------------------------
# BitemporalGaussianBlur
# --------------------------------------------------------------------------
def test_blur_is_deterministic_with_seed():
    blur = build(dict(type='BitemporalGaussianBlur'))
    outs = []
    for _ in range(2):
        np.random.seed(3)
        outs.append(blur(pair_results(random_image(1), random_image(2))))
    for a, b in zip(outs[0]['img'], outs[1]['img']):
        np.testing.assert_array_equal(a, b)


def test_blur_uses_one_radius_for_both_dates():
    blur = build(dict(type='BitemporalGaussianBlur', radius_range=(0.5, 2.)))
    img = random_image(4)
    for seed in range(5):
        np.random.seed(seed)
        out = blur(pair_results(img))['img']
        np.testing.assert_array_equal(out[0], out[1])
        assert not np.array_equal(out[0], img)


def test_blur_changes_image_and_keeps_label_dtype_shape():
    blur = build(dict(type='BitemporalGaussianBlur', radius_range=(1., 1.)))
    img = random_image(5)
    results = pair_results(img, random_image(6))
    label = results['gt_seg_map'].copy()
    out = blur(results)
    assert np.abs(out['img'][0].astype(int) - img).mean() > 5
    assert out['img'][0].dtype == np.uint8
    assert out['img'][0].shape == img.shape
    np.testing.assert_array_equal(out['gt_seg_map'], label)


@pytest.mark.parametrize('cfg', [
    dict(radius_range=(0., 0.)),
    dict(radius_range=(1., 2.), prob=0.),
])
def test_blur_identity_cases(cfg):
    blur = build(dict(type='BitemporalGaussianBlur', **cfg))
    img1, img2 = random_image(7), random_image(8)
    out = blur(pair_results(img1, img2))['img']
    np.testing.assert_array_equal(out[0], img1)
    np.testing.assert_array_equal(out[1], img2)


@pytest.mark.parametrize('radius', [0.5, 1.0, 2.0])
def test_blur_close_to_pil_gaussian_blur(radius):
    img = cv2.GaussianBlur(random_image(9, (48, 48, 3)), (0, 0), 1.)
    img[10:30, 12:36] = 250
    ours = TRANSFORMS.get('BitemporalGaussianBlur').blur(img, radius)
    pil = np.asarray(
        Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius)))
    assert np.abs(ours.astype(float) - pil).mean() < 1.0


def test_blur_float32_input_keeps_dtype():
    blur = build(dict(type='BitemporalGaussianBlur', radius_range=(1., 1.)))
    img = random_image(10).astype(np.float32)
    out = blur(pair_results(img))['img']
    assert out[0].dtype == np.float32


@pytest.mark.parametrize('cfg', [
    dict(radius_range=(1., 0.5)),
    dict(radius_range=(-1., 0.5)),
    dict(prob=1.5),
])
def test_blur_rejects_bad_arguments(cfg):
    with pytest.raises(ValueError):
        build(dict(type='BitemporalGaussianBlur', **cfg))


# --------------------------------------------------------------------------
# BitemporalColorJitter
# --------------------------------------------------------------------------
def test_jitter_is_deterministic_with_seed():
    jitter = build(dict(type='BitemporalColorJitter'))
    outs = []
    for _ in range(2):
        np.random.seed(11)
        outs.append(jitter(pair_results(random_image(1), random_image(2))))
    for a, b in zip(outs[0]['img'], outs[1]['img']):
        np.testing.assert_array_equal(a, b)


def test_jitter_draws_independent_factors_per_date():
    jitter = build(dict(type='BitemporalColorJitter'))
    img = random_image(12)
    for seed in range(5):
        np.random.seed(seed)
        results = pair_results(img)
        label = results['gt_seg_map'].copy()
        out = jitter(results)
        assert not np.array_equal(out['img'][0], out['img'][1])
        for jittered in out['img']:
            assert jittered.dtype == np.uint8
            assert jittered.shape == img.shape
        np.testing.assert_array_equal(out['gt_seg_map'], label)


def test_jitter_brightness_factor_scales_values():
    jitter = build(
        dict(
            type='BitemporalColorJitter',
            brightness=(1.5, 1.5),
            contrast=0,
            saturation=0,
            hue=0))
    img = random_image(13)
    out = jitter(pair_results(img))['img']
    expected = np.clip(np.rint(img * 1.5), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out[0], expected)
    np.testing.assert_array_equal(out[1], expected)
    darker = build(
        dict(
            type='BitemporalColorJitter',
            brightness=(0.5, 0.5),
            contrast=0,
            saturation=0,
            hue=0))(pair_results(img))['img'][0]
    assert darker.mean() == pytest.approx(img.mean() * 0.5, abs=0.5)


def test_jitter_disabled_or_prob_zero_is_identity():
    img1, img2 = random_image(14), random_image(15)
    for cfg in (dict(brightness=0, contrast=0, saturation=0, hue=0),
                dict(prob=0.)):
        jitter = build(dict(type='BitemporalColorJitter', **cfg))
        out = jitter(pair_results(img1, img2))['img']
        np.testing.assert_array_equal(out[0], img1)
        np.testing.assert_array_equal(out[1], img2)


@pytest.mark.needs_torchvision
@pytest.mark.parametrize('ours, theirs, factor', [
    (adjust_brightness, 'adjust_brightness', 1.3),
    (adjust_contrast, 'adjust_contrast', 0.6),
    (adjust_saturation, 'adjust_saturation', 1.4),
    (adjust_hue, 'adjust_hue', 0.27),
    (adjust_hue, 'adjust_hue', -0.4),
])
def test_jitter_operations_match_torchvision(ours, theirs, factor):
    import torchvision.transforms.functional as TF
    theirs = getattr(TF, theirs)
    img = random_image(16).astype(np.float32)
    rgb = torch.from_numpy(img[..., ::-1] / 255.).permute(2, 0, 1)
    expected = theirs(rgb, factor).permute(1, 2, 0).numpy()[..., ::-1] * 255
    np.testing.assert_allclose(ours(img, factor), expected, atol=1e-2)


def test_jitter_float32_input_keeps_dtype_and_range():
    jitter = build(dict(type='BitemporalColorJitter'))
    img = random_image(17).astype(np.float32)
    np.random.seed(0)
    out = jitter(pair_results(img))['img']
    assert out[0].dtype == np.float32
    assert 0 <= out[0].min() and out[0].max() <= 255


@pytest.mark.parametrize('cfg', [
    dict(hue=0.6),
    dict(brightness=-0.1),
    dict(contrast=(1.2, 0.8)),
    dict(prob=-0.1),
])
def test_jitter_rejects_bad_arguments(cfg):
    with pytest.raises(ValueError):
        build(dict(type='BitemporalColorJitter', **cfg))


def test_jitter_rejects_non_colour_images():
    jitter = build(dict(type='BitemporalColorJitter'))
    grey = random_image(18, (H, W))
    with pytest.raises(ValueError, match='HxWx3'):
        jitter(dict(img=[grey, grey]))


# --------------------------------------------------------------------------
# CDLoadImagePair
# --------------------------------------------------------------------------
def write(path, array):
    assert cv2.imwrite(str(path), array)
    return str(path)


def load_pair(paths, **cfg):
    return build(dict(type='CDLoadImagePair', **cfg))(dict(img_path=paths))


def test_load_pair_sets_open_cd_keys(tmp_path):
    img1, img2 = random_image(20), random_image(21)
    paths = [write(tmp_path / 'a.png', img1), write(tmp_path / 'b.png', img2)]
    results = load_pair(paths)
    np.testing.assert_array_equal(results['img'][0], img1)
    np.testing.assert_array_equal(results['img'][1], img2)
    assert results['img_shape'] == (H, W)
    assert results['ori_shape'] == (H, W)
    assert results['img_path'] == paths
    floats = load_pair(paths, to_float32=True)['img']
    assert floats[0].dtype == np.float32
    np.testing.assert_array_equal(floats[0], img1.astype(np.float32))


def test_load_pair_missing_file(tmp_path):
    good = write(tmp_path / 'a.png', random_image())
    with pytest.raises(FileNotFoundError, match='missing_t2.png'):
        load_pair([good, str(tmp_path / 'missing_t2.png')])


@pytest.mark.parametrize('content', [b'', b'not an image at all'])
def test_load_pair_unreadable_file(tmp_path, content):
    good = write(tmp_path / 'a.png', random_image())
    bad = tmp_path / 'broken.png'
    bad.write_bytes(content)
    with pytest.raises(ValueError, match='broken.png'):
        load_pair([good, str(bad)])


def test_load_pair_size_mismatch_names_both_files(tmp_path):
    paths = [
        write(tmp_path / 't1_img.png', random_image(shape=(H, W, 3))),
        write(tmp_path / 't2_img.png', random_image(shape=(H + 2, W, 3)))
    ]
    with pytest.raises(ValueError) as info:
        load_pair(paths)
    message = str(info.value)
    for text in ('t1_img.png', 't2_img.png', str((H, W, 3)),
                 str((H + 2, W, 3))):
        assert text in message


def test_load_pair_grey_is_replicated(tmp_path):
    grey = random_image(22, (H, W))
    path = write(tmp_path / 'grey.png', grey)
    img = load_pair([path, path])['img'][0]
    assert img.shape == (H, W, 3)
    for c in range(3):
        np.testing.assert_array_equal(img[..., c], grey)
    with pytest.raises(ValueError, match='grey.png has 1 channel'):
        load_pair([path, path], channels=4)


def test_load_pair_rgba_alpha_dropped(tmp_path):
    bgr = random_image(23)
    alpha = np.full((H, W, 1), 77, np.uint8)
    path = write(tmp_path / 'rgba.png', np.concatenate([bgr, alpha], 2))
    img = load_pair([path, path])['img'][0]
    np.testing.assert_array_equal(img, bgr)
    assert img.flags.c_contiguous
    kept = load_pair([path, path], channels=4)['img'][0]
    np.testing.assert_array_equal(kept[..., 3], alpha[..., 0])


def test_load_pair_16bit_divided_by_257_never_rounded(tmp_path):
    rng = np.random.default_rng(24)
    img16 = rng.integers(0, 65536, (H, W, 3), dtype=np.uint16)
    img16[0, 0] = [0, 257 * 100 + 128, 65535]
    path = write(tmp_path / 'deep.png', img16)
    img = load_pair([path, path])['img'][0]
    assert img.dtype == np.float32
    np.testing.assert_array_equal(img, img16.astype(np.float32) / 257)
    np.testing.assert_allclose(img[0, 0], [0, 100 + 128 / 257, 255])


def test_load_pair_max_value_for_12_bit_data(tmp_path):
    img12 = np.random.default_rng(5).integers(0, 4096, (H, W, 3),
                                              dtype=np.uint16)
    img12[0, 0] = [0, 4095, 2048]
    path = write(tmp_path / 'twelve.png', img12)
    img = load_pair([path, path], max_value=4095)['img'][0]
    np.testing.assert_allclose(img[0, 0], [0, 255, 2048 * 255 / 4095],
                               rtol=1e-6)
    with pytest.raises(ValueError, match='twelve.png has values up to 4095'):
        load_pair([path, path], max_value=1023)


def test_load_pair_dates_must_agree(tmp_path):
    colour = write(tmp_path / 'colour.png', random_image(25))
    grey = write(tmp_path / 'grey_t2.png', random_image(26, (H, W)))
    deep = write(tmp_path / 'deep_t2.png',
                 random_image(27).astype(np.uint16) * 257)
    for other in (grey, deep):
        with pytest.raises(ValueError) as info:
            load_pair([colour, other])
        assert 'colour.png' in str(info.value)
        assert other in str(info.value)


@pytest.mark.parametrize('cfg', [
    dict(color_type='color'),
    dict(channels=0),
    dict(max_value=-1),
])
def test_load_pair_rejects_bad_arguments(cfg):
    with pytest.raises((ValueError, TypeError)):
        build(dict(type='CDLoadImagePair', **cfg))


# --------------------------------------------------------------------------
# CDLoadChangeLabel
# --------------------------------------------------------------------------
def load_label(path, **results):
    results = dict(seg_map_path=str(path), seg_fields=[], **results)
    return build(dict(type='CDLoadChangeLabel'))(results)


def change_mask(seed=30):
    return np.random.default_rng(seed).integers(0, 2, (H, W), dtype=np.uint8)


def test_label_0_255_and_0_1_give_identical_targets(tmp_path):
    mask = change_mask()
    a = load_label(write(tmp_path / 'levir.png', mask * 255))
    b = load_label(write(tmp_path / 'binary.png', mask))
    np.testing.assert_array_equal(a['gt_seg_map'], mask)
    np.testing.assert_array_equal(b['gt_seg_map'], mask)
    assert a['gt_seg_map'].dtype == np.uint8
    assert a['seg_fields'] == ['gt_seg_map']


def test_label_all_changed_and_no_seg_fields_key(tmp_path):
    path = write(tmp_path / 'full.png', np.full((H, W), 255, np.uint8))
    results = build(dict(type='CDLoadChangeLabel'))(
        dict(seg_map_path=path))
    assert (results['gt_seg_map'] == 1).all()
    assert results['seg_fields'] == ['gt_seg_map']


def test_label_invalid_value_refused(tmp_path):
    mask = change_mask()
    mask[3, 4] = 7
    path = write(tmp_path / 'bad_label.png', mask)
    with pytest.raises(ValueError) as info:
        load_label(path)
    assert 'bad_label.png' in str(info.value)
    assert '[7]' in str(info.value)


def test_label_mixing_1_and_255_refused(tmp_path):
    mask = change_mask() * 255
    mask[0, 0] = 1
    with pytest.raises(ValueError, match='mix of 1 and 255'):
        load_label(write(tmp_path / 'mixed.png', mask))


def test_label_colour_file(tmp_path):
    mask = change_mask()
    grey3 = np.repeat(mask[..., None] * 255, 3, axis=2)
    out = load_label(write(tmp_path / 'grey3.png', grey3))
    np.testing.assert_array_equal(out['gt_seg_map'], mask)
    red = np.zeros((H, W, 3), np.uint8)
    red[..., 2] = mask * 255
    with pytest.raises(ValueError, match='red.png.*label_threshold'):
        load_label(write(tmp_path / 'red.png', red))
    out = build(dict(type='CDLoadChangeLabel', label_threshold=128))(
        dict(seg_map_path=str(tmp_path / 'red.png')))
    np.testing.assert_array_equal(out['gt_seg_map'], mask)


def test_label_threshold_binarises_stray_values_on_purpose(tmp_path):
    mask = change_mask() * 255
    mask[1, 1], mask[2, 2] = 213, 21
    path = write(tmp_path / 'stray.png', mask)
    with pytest.raises(ValueError, match='label_threshold'):
        load_label(path)
    out = build(dict(type='CDLoadChangeLabel', label_threshold=128))(
        dict(seg_map_path=path))
    np.testing.assert_array_equal(out['gt_seg_map'], mask >= 128)


def test_label_of_another_size_names_the_file(tmp_path):
    path = write(tmp_path / 'small.png', change_mask()[:-1] * 255)
    with pytest.raises(ValueError, match='small.png is 23x32 but its images are 24x32'):
        load_label(path, img_shape=(H, W))


def test_label_without_path_is_unlabelled_inference():
    results = build(dict(type='CDLoadChangeLabel'))(dict(img_shape=(H, W)))
    assert 'gt_seg_map' not in results


def test_label_palette_png_gives_indices(tmp_path):
    mask = change_mask()
    image = Image.fromarray(mask, mode='P')
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.save(tmp_path / 'palette.png')
    out = load_label(tmp_path / 'palette.png')
    np.testing.assert_array_equal(out['gt_seg_map'], mask)


def test_label_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nolabel.png'):
        load_label(tmp_path / 'nolabel.png')


def test_label_reduce_zero_label_and_label_map(tmp_path):
    mask = change_mask()
    path = write(tmp_path / 'l.png', mask * 255)
    reduce = build(dict(type='CDLoadChangeLabel', reduce_zero_label=True))
    out = reduce(
        dict(seg_map_path=path, seg_fields=[], reduce_zero_label=True))
    np.testing.assert_array_equal(out['gt_seg_map'],
                                  np.where(mask == 1, 0, 255))
    with pytest.raises(ValueError, match='reduce_zero_label'):
        load_label(path, reduce_zero_label=True)
    mapped = load_label(path, label_map={0: 255, 1: 0})
    np.testing.assert_array_equal(mapped['gt_seg_map'],
                                  np.where(mask == 1, 0, 255))


def test_label_alpha_channel_is_not_a_value(tmp_path):
    mask = change_mask()
    grey = mask * 255
    bgra = np.stack([grey, grey, grey, np.full_like(grey, 255)], axis=2)
    path = write(tmp_path / 'rgba_label.png', bgra)
    np.testing.assert_array_equal(load_label(path)['gt_seg_map'], mask)
    out = build(dict(type='CDLoadChangeLabel', label_threshold=128))(
        dict(seg_map_path=path))
    np.testing.assert_array_equal(out['gt_seg_map'], mask)
