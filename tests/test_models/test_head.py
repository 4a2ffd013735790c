import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks import Conv2dAdaptivePadding
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from ftan_opencd.models.decode_heads import IAM, FTANHead
from ftan_opencd.models.decode_heads import ftan_head
from ftan_opencd.models.decode_heads.iam import NonLocalBlock
from ftan_opencd.models.utils import attention as attention_module
from ftan_opencd.models.utils import chunked_attention, naive_attention

# Model-only tests: no open-cd model package needed (see conftest).
REGISTRY_SCOPE = 'mmseg'

DIMS = [8, 16, 24, 32]


def bitemporal_feats(b=2, h=16, w=12, dims=DIMS):
    return [
        torch.randn(b, 2 * c, -(-h // 2**i), -(-w // 2**i))
        for i, c in enumerate(dims)
    ]


def make_head(**kwargs):
    cfg = dict(in_channels=DIMS, channels=16, num_classes=2,
               loss_decode=dict(type='mmseg.CrossEntropyLoss'))
    cfg.update(kwargs)
    return FTANHead(**cfg)


def samples(b, h, w):
    out = []
    for _ in range(b):
        s = SegDataSample(gt_sem_seg=PixelData(
            data=torch.randint(0, 2, (1, h, w))))
        s.set_metainfo(dict(img_shape=(h, w), pad_shape=(h, w)))
        out.append(s)
    return out


def naive_iam(iam, c):
    """IAM written out with explicit softmax maps (the reference pattern)."""
    b, e, h, w = c.shape
    t = c.flatten(2).transpose(1, 2)
    a = torch.softmax(
        iam.token_query(t) @ iam.token_key(iam.cls_tokens).T / e**0.5, -1)
    hmap = (a @ iam.prop_tokens).transpose(1, 2).reshape(b, e, h, w)

    def non_local(block, q_in, k_in):
        q = block.query_project(q_in).flatten(2).transpose(1, 2)
        k = block.key_project(k_in).flatten(2).transpose(1, 2)
        v = block.value_project(k_in).flatten(2).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(1, 2) / e**0.5, -1)
        return block.out_project((att @ v).transpose(1, 2).reshape(b, e, h, w))

    return c + non_local(iam.self_context, c, c) + non_local(
        iam.cross_context, c, hmap)


def test_iam_equals_naive_softmax_attention(monkeypatch):
    iam = IAM(16, 2, dict(type='BN')).eval()
    c = torch.randn(2, 16, 7, 9)
    expected = naive_iam(iam, c)
    torch.testing.assert_close(iam(c), expected, atol=1e-5, rtol=1e-4)
    # Force the CPU blocking path (several query blocks).
    monkeypatch.setattr(attention_module, 'CPU_BLOCK_ELEMENTS', 100)
    torch.testing.assert_close(iam(c), expected, atol=1e-5, rtol=1e-4)


def test_chunked_attention_exact():
    q, k, v = torch.randn(2, 50, 8), torch.randn(2, 40, 8), torch.randn(
        2, 40, 6)
    torch.testing.assert_close(
        chunked_attention(q, k, v), naive_attention(q, k, v), atol=1e-5,
        rtol=1e-5)


def flash_attention_only():
    """A context where SDPA may use only the flash kernel (no math
    fallback, which would store the N x N map)."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # torch < 2.3
        return torch.backends.cuda.sdp_kernel(
            enable_flash=True, enable_math=False, enable_mem_efficient=False)
    return sdpa_kernel(SDPBackend.FLASH_ATTENTION)


@pytest.mark.parametrize('block_elements', [None, 100])
def test_chunked_attention_runs_on_the_fused_kernel(monkeypatch,
                                                    block_elements):
    """3-D inputs would only run on the math kernel (it raises 'No
    available kernel' here); the 4-D views run on CPU flash attention,
    whole and in query blocks, and give the exact result."""
    if block_elements:
        monkeypatch.setattr(attention_module, 'CPU_BLOCK_ELEMENTS',
                            block_elements)
    # Token views of (B, d, H, W) maps, as the IAM passes them: the stride
    # along d is not 1.
    q, k, v = (torch.randn(2, 8, n).transpose(1, 2) for n in (50, 40, 40))
    with flash_attention_only():
        out = chunked_attention(q, k, v)
        with pytest.raises(RuntimeError):
            torch.nn.functional.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, naive_attention(q, k, v), atol=1e-5,
                               rtol=1e-5)


def test_gradients_reach_iam_tokens():
    head = make_head()
    head(bitemporal_feats()).sum().backward()
    for p in (head.iam.cls_tokens, head.iam.prop_tokens):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_fused_and_reference_attention_same_weights():
    fused = make_head().eval()
    ref = make_head(fused_attention=False).eval()
    ref.load_state_dict(fused.state_dict())
    assert isinstance(ref.iam.self_context, NonLocalBlock)
    assert ref.iam.self_context.attention is naive_attention
    feats = bitemporal_feats()
    torch.testing.assert_close(fused(feats), ref(feats), atol=1e-5,
                               rtol=1e-4)


def reference_tail_head(head):
    """The same weights run as the reference: NCHW, whole tail."""
    ref = make_head(channels_last_tail=False, band_pixels=None).eval()
    ref.load_state_dict(head.state_dict())
    return ref


@pytest.mark.parametrize('h, w, band_pixels', [(16, 12, 16 * 12 * 4),
                                                (13, 7, 1), (9, 11, 200)])
def test_banded_inference_equals_whole_tail(h, w, band_pixels):
    """Bands of one H/4 row (band_pixels=1) up to several rows, odd and
    non-square maps: the halo makes every band exact."""
    head = make_head(band_pixels=band_pixels).eval()
    feats = bitemporal_feats(h=h, w=w)
    with torch.no_grad():
        expected = reference_tail_head(head)(feats)
        out = head(feats)
    assert out.shape == expected.shape == (2, 2, 4 * h, 4 * w)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_band_halo_is_needed(monkeypatch):
    """One H/4 row less of halo changes the output, so the equality above
    tests the halo. The residual branches are scaled by 0.1: the tail's
    weights are enlarged to make the edge effect visible."""
    head = make_head(band_pixels=1).eval()
    with torch.no_grad():
        for conv in (head.res1.conv2, head.res2.conv2):
            conv.conv.weight.mul_(30)
    feats = bitemporal_feats(h=10, w=6)
    with torch.no_grad():
        expected = reference_tail_head(head)(feats)
        torch.testing.assert_close(head(feats), expected, atol=1e-5,
                                   rtol=1e-5)
        monkeypatch.setattr(ftan_head, 'TAIL_HALO', ftan_head.TAIL_HALO - 1)
        assert (head(feats) - expected).abs().max() > 1e-4


def test_training_runs_the_tail_whole_in_channels_last():
    head = make_head(band_pixels=1)
    feats = bitemporal_feats(h=8, w=8)
    calls = []
    head.res2.register_forward_hook(
        lambda mod, args, out: calls.append(
            (out.shape, out.is_contiguous(
                memory_format=torch.channels_last))))
    logits = head(feats)
    assert calls == [((2, 16, 32, 32), True)]
    assert logits.is_contiguous()
    ref = reference_tail_head(head).train()
    torch.testing.assert_close(logits, ref(feats), atol=1e-5, rtol=1e-5)


def test_bad_band_pixels_raises():
    with pytest.raises(ValueError, match='band_pixels'):
        make_head(band_pixels=0)


@pytest.mark.parametrize('h, w', [(16, 16), (16, 12), (13, 7)])
def test_output_is_four_times_finest_map(h, w):
    head = make_head()
    out = head(bitemporal_feats(h=h, w=w))
    assert out.shape == (2, 2, 4 * h, 4 * w)


def test_without_iam_and_sigmoid_output():
    head = make_head(with_iam=False, num_classes=2, out_channels=1,
                     threshold=0.3, loss_decode=dict(
                         type='mmseg.CrossEntropyLoss', use_sigmoid=True))
    assert head.iam is None and head.conv_seg.out_channels == 1
    feats = bitemporal_feats(h=8, w=8)
    assert head(feats).shape == (2, 1, 32, 32)
    losses = head.loss(feats, samples(2, 32, 32), {})
    assert torch.isfinite(losses['loss_ce'])


def test_deep_supervision_losses():
    head = make_head(deep_supervision=(0.5, 0.5, 0.5, 0.8))
    feats = bitemporal_feats(h=8, w=8)
    losses = head.loss(feats, samples(2, 32, 32), {})
    assert set(losses) >= {'loss_ce', 'loss_side0', 'loss_side3', 'acc_seg'}
    # weights scale the side losses: zero weight gives zero loss
    head.deep_supervision = (0., 0.5, 0.5, 0.8)
    assert head.loss(feats, samples(2, 32, 32), {})['loss_side0'] == 0
    plain = make_head()
    assert not hasattr(plain, 'side_preds')
    assert set(plain.loss(feats, samples(2, 32, 32), {})) == {
        'loss_ce', 'acc_seg'}


def test_channel_mismatch_raises_clear_error():
    head = make_head()
    feats = bitemporal_feats(dims=[8, 16, 24, 40])
    with pytest.raises(ValueError, match='80'):
        head(feats)
    with pytest.raises(ValueError, match='one date'):
        FTANHead(in_channels=[8, 16], in_index=[0, 1, 2], num_classes=2)
    with pytest.raises(ValueError, match='deep_supervision'):
        make_head(deep_supervision=(1., ))


def test_act_cfg_reaches_every_activation():
    """GELU everywhere (decoder blocks, residual blocks, IAM projections),
    no ReLU left; the default keeps the paper's ReLU."""
    head = make_head(act_cfg=dict(type='GELU'),
                     deep_supervision=(1., 1., 1., 1.))
    kinds = {type(m) for m in head.modules()}
    assert nn.GELU in kinds and nn.ReLU not in kinds
    gelus = sum(isinstance(m, nn.GELU) for m in head.modules())
    # 4 scales x (2 per difference module + 1 per side prediction), 2
    # residual blocks x 1, 2 attention blocks x 4 projections
    assert gelus == 4 * (2 + 1) + 2 * 1 + 2 * 4
    relus = sum(isinstance(m, nn.ReLU) for m in make_head().modules())
    assert relus == 4 * 2 + 2 * 1 + 2 * 4
    head(bitemporal_feats()).sum().backward()


def test_conv_cfg_reaches_the_decoder_convs():
    """Every 1x1 / 3x3 conv of a conv block is built from ``conv_cfg``; the
    transposed convs and the classifier stay plain layers."""
    head = make_head(conv_cfg=dict(type='Conv2dAdaptivePadding'))
    blocks = [m for m in head.modules() if isinstance(m, ConvModule)]
    # linear + 2 per difference module (4 scales), fusion, 2 per residual
    # block, 4 per attention block
    assert len(blocks) == 4 * 3 + 1 + 4 + 8
    assert all(isinstance(b.conv, Conv2dAdaptivePadding) for b in blocks)
    assert type(head.conv_seg) is nn.Conv2d
    assert head(bitemporal_feats()).shape == (2, 2, 64, 48)


def test_reference_init_reaches_every_layer():
    """``init_weights`` gives every conv N(0, 0.02) and every norm weight
    N(1, 0.02) (REFERENCE_INIT): no ConvModule re-runs its Kaiming init."""
    head = make_head(channels=64)
    head.init_weights()
    for name, module in head.named_modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and \
                module.weight.numel() > 1000:
            assert 0.017 < module.weight.std() < 0.023, name
        if isinstance(module, nn.BatchNorm2d):
            assert not torch.all(module.weight == 1), name
            assert abs(module.weight.mean() - 1) < 0.02, name
