"""FTAN through open-cd's SiamEncoderDecoder in loss / predict / tensor mode."""
import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from opencd.registry import MODELS
from ..conftest import tiny_model_cfg

pytestmark = pytest.mark.needs_torchvision  # builds open-cd models


def batch(b, h, w):
    inputs = [torch.randint(0, 256, (6, h, w), dtype=torch.uint8)
              for _ in range(b)]
    samples = []
    for _ in range(b):
        s = SegDataSample(gt_sem_seg=PixelData(
            data=torch.randint(0, 2, (1, h, w))))
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w)))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture(scope='module')
def model():
    with DefaultScope.overwrite_default_scope('opencd'):
        return MODELS.build(tiny_model_cfg())


def test_loss_mode_backward(model):
    model.train()
    data = model.data_preprocessor(batch(2, 64, 64), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'}
    losses['decode.loss_ce'].backward()
    assert model.backbone.stages[0][0].attn.mcfa.fdm.w_r.grad is not None


@pytest.mark.parametrize('h, w', [(64, 64), (96, 64), (75, 53)])
def test_predict_mode_whole(model, h, w):
    model.eval()
    data = model.data_preprocessor(batch(1, h, w), training=False)
    with torch.no_grad():
        results = model(**data, mode='predict')
    assert len(results) == 1
    for r in results:
        assert r.pred_sem_seg.data.shape == (1, h, w)
        assert set(r.pred_sem_seg.data.unique().tolist()) <= {0, 1}
        assert r.seg_logits.data.shape == (2, h, w)


def test_tensor_mode(model):
    model.eval()
    data = model.data_preprocessor(batch(1, 64, 96), training=False)
    with torch.no_grad():
        logits = model(**data, mode='tensor')
    assert logits.shape == (1, 2, 64, 96)


def test_slide_mode_matches_tiles():
    """Sliding windows with stride == window evaluate each tile on its own."""
    cfg = tiny_model_cfg()
    cfg.test_cfg = dict(mode='slide', crop_size=(32, 32), stride=(32, 32))
    model = MODELS.build(cfg).eval()
    data = model.data_preprocessor(batch(1, 64, 64), training=False)
    with torch.no_grad():
        slide = model(**data, mode='predict')[0].seg_logits.data
        tile = model.encode_decode(data['inputs'][:, :, 32:, :32], [
            dict(img_shape=(32, 32))])[0]
    torch.testing.assert_close(slide[:, 32:, :32], tile, atol=1e-4,
                               rtol=1e-4)


def test_multispectral_input():
    cfg = tiny_model_cfg()
    cfg.backbone.in_channels = 4
    cfg.backbone_inchannels = 4
    cfg.data_preprocessor.mean = [127.5] * 8
    cfg.data_preprocessor.std = [127.5] * 8
    cfg.data_preprocessor.bgr_to_rgb = False
    model = MODELS.build(cfg).eval()
    inputs = torch.randn(1, 8, 64, 64)
    with torch.no_grad():
        assert model(inputs, mode='tensor').shape == (1, 2, 64, 64)
