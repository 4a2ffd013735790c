"""One pixel contract: the tensor the model receives for a file is the same
through the training loader, the test pipeline (open-cd's loader +
CDConformPixels, what OpenCDInferencer runs) and FTANInferencer."""
import copy

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose

from ftan_opencd.apis import init_model
from ftan_opencd.apis.inference import preprocess
from ftan_opencd.apis.sources import open_pair
from ftan_opencd.engine.error_map_hook import date_images
from ftan_opencd.pixels import display_image
from .conftest import DEMO_CONFIG

pytestmark = pytest.mark.needs_torchvision  # builds open-cd models

H, W = 40, 56  # padded to 64 x 64 by the preprocessor (size_divisor 32)


def rng_image(seed, shape, dtype=np.uint8, high=256):
    return np.random.default_rng(seed).integers(0, high, shape).astype(dtype)


def write_png(path, array):
    assert cv2.imwrite(str(path), array)
    return str(path)


def write_tif(path, bands, alpha=False):
    """bands: (C, H, W) written in file order."""
    import rasterio
    from rasterio.transform import from_origin
    count = bands.shape[0]
    with rasterio.open(path, 'w', driver='GTiff', height=H, width=W,
                       count=count, dtype=bands.dtype.name,
                       crs='EPSG:32631',
                       transform=from_origin(500000, 4000000, 1, 1)) as ds:
        ds.write(bands)
        if alpha:
            interp = list(ds.colorinterp)
            interp[-1] = rasterio.enums.ColorInterp.alpha
            ds.colorinterp = interp
    return str(path)


def make_case(name, tmp_path, seed):
    """(channels, path t1, path t2) of one input format."""
    files = []
    for date in (0, 1):
        stem = tmp_path / f'{name}_{date}'
        s = seed + date
        if name == 'rgb8_png':
            files.append(write_png(f'{stem}.png', rng_image(s, (H, W, 3))))
        elif name == 'rgb16_png':
            files.append(write_png(f'{stem}.png',
                                   rng_image(s, (H, W, 3), np.uint16, 65536)))
        elif name == 'grey_png':
            files.append(write_png(f'{stem}.png', rng_image(s, (H, W))))
        elif name == 'rgba_png':
            files.append(write_png(f'{stem}.png', rng_image(s, (H, W, 4))))
        elif name == 'rgb_tif':
            files.append(write_tif(f'{stem}.tif', rng_image(s, (3, H, W))))
        elif name == 'rgba_tif':
            files.append(write_tif(f'{stem}.tif', rng_image(s, (4, H, W)),
                                   alpha=True))
        elif name == 'rgbn_tif':
            files.append(write_tif(f'{stem}.tif',
                                   rng_image(s, (4, H, W), np.uint16, 4096)))
        elif name == 'six_band_tif':
            files.append(write_tif(f'{stem}.tif',
                                   rng_image(s, (6, H, W), np.uint16, 65536)))
    channels = {'rgbn_tif': 4, 'six_band_tif': 6}.get(name, 3)
    return channels, files


def demo_config(channels):
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.model.backbone.in_channels = channels
    cfg.model.backbone_inchannels = channels
    pre = cfg.model.data_preprocessor
    pre.mean = [127.5] * (2 * channels)
    pre.std = [127.5] * (2 * channels)
    cfg.data_preprocessor = pre
    return cfg


def pipeline_inputs(model, pipeline_cfg, files, label):
    """The normalised tensor a pipeline's output gives the model."""
    pipeline = Compose(copy.deepcopy(pipeline_cfg))
    packed = pipeline(dict(img_path=files, seg_map_path=label,
                           seg_fields=[], reduce_zero_label=False))
    data = model.data_preprocessor(
        dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']]),
        training=False)
    return data['inputs'], packed['inputs']


def predict_inputs(model, files):
    """The normalised tensor FTANInferencer gives the model (one window)."""
    src1, src2 = open_pair(files[0], files[1], model.backbone_inchannels)
    try:
        band = np.concatenate(
            [src1.read_rows(0, H), src2.read_rows(0, H)], axis=2)
    finally:
        src1.close()
        src2.close()
    return preprocess(model, band[None])


@pytest.mark.parametrize('name', [
    'rgb8_png', 'rgb16_png', 'grey_png', 'rgba_png', 'rgb_tif', 'rgba_tif',
    'rgbn_tif', 'six_band_tif'
])
def test_training_test_and_predict_paths_agree_bit_for_bit(tmp_path, name):
    channels, files = make_case(name, tmp_path, seed=len(name))
    label = write_png(tmp_path / 'label.png', np.zeros((H, W), np.uint8))
    cfg = demo_config(channels)
    model = init_model(cfg)
    expected = predict_inputs(model, files)
    assert expected.shape == (1, 2 * channels, 64, 64)

    train_loader = [dict(type='CDLoadImagePair', channels=channels),
                    dict(type='CDLoadChangeLabel'),
                    dict(type='MultiImgPackSegInputs')]
    test_pipeline = copy.deepcopy(cfg.test_pipeline)
    test_pipeline[1]['channels'] = channels
    # open-cd's loader decodes with OpenCV, which reads at most 4 bands:
    # configs for more bands test with CDLoadImagePair too.
    pipelines = (train_loader, ) if channels > 4 else \
        (train_loader, test_pipeline)
    for pipeline_cfg in pipelines:
        inputs, packed = pipeline_inputs(model, pipeline_cfg, files, label)
        assert torch.equal(inputs, expected), pipeline_cfg[0]['type']
    # The error-map panels show exactly those pixels.
    shown = date_images(packed, channels)
    rows = open_pair(files[0], files[1], channels)
    for img, src in zip(shown, rows):
        np.testing.assert_array_equal(
            display_image(img), display_image(src.read_rows(0, H)))
        src.close()


def test_four_band_without_alpha_is_refused_by_every_path(tmp_path):
    _, files = make_case('rgbn_tif', tmp_path, seed=3)
    label = write_png(tmp_path / 'label.png', np.zeros((H, W), np.uint8))
    cfg = demo_config(3)
    model = init_model(cfg)
    message = f'{files[0]} has 4 channel\\(s\\) but the model takes 3'
    with pytest.raises(ValueError, match=message):
        predict_inputs(model, files)
    for pipeline_cfg in ([dict(type='CDLoadImagePair')], cfg.test_pipeline):
        with pytest.raises(ValueError, match=message):
            pipeline_inputs(model, pipeline_cfg, files, label)
