"""FTANHead state dicts of the raw-conv layout (before 0.1.0) load into the
ConvModule head through ``convert_head_keys`` and give the same outputs."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ftan_opencd.models.decode_heads import IAM, convert_head_keys
from .test_head import DIMS, bitemporal_feats, make_head

REGISTRY_SCOPE = 'mmseg'

CHANNELS = 16  # make_head's decoder width


class OldResidualBlock(nn.Module):

    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return x + 0.1 * self.conv2(F.relu(self.conv1(x)))


class OldFTANHead(nn.Module):
    """FTANHead as it was before 0.1.0 (raw convs, hard-coded ReLU, BN), its
    layers under their old names, with its forward (whole tail, NCHW)."""

    def __init__(self, dims=DIMS, e=CHANNELS, classes=2):
        super().__init__()

        def conv3(cin, cout):
            return nn.Conv2d(cin, cout, 3, padding=1)

        self.linears = nn.ModuleList(nn.Conv2d(c, e, 1) for c in dims)
        self.diffs = nn.ModuleList(
            nn.Sequential(conv3(2 * e, e), nn.ReLU(), nn.BatchNorm2d(e),
                          conv3(e, e), nn.ReLU()) for _ in dims)
        self.side_preds = nn.ModuleList(
            nn.Sequential(conv3(e, classes), nn.ReLU(),
                          nn.BatchNorm2d(classes), conv3(classes, classes))
            for _ in dims)
        self.fuse = nn.Sequential(
            nn.Conv2d(e * len(dims), e, 1), nn.BatchNorm2d(e))
        self.iam = IAM(e, classes, dict(type='BN'))
        self.up1 = nn.ConvTranspose2d(e, e, 4, 2, 1)
        self.res1 = OldResidualBlock(e)
        self.up2 = nn.ConvTranspose2d(e, e, 4, 2, 1)
        self.res2 = OldResidualBlock(e)
        self.conv_seg = conv3(e, classes)

    def forward(self, inputs):
        size = inputs[0].shape[2:]
        ups, sides, coarser = [], [], None
        for idx in reversed(range(len(inputs))):
            x1, x2 = torch.chunk(inputs[idx], 2, dim=1)
            linear = self.linears[idx]
            d = self.diffs[idx](torch.cat([linear(x1), linear(x2)], dim=1))
            if coarser is not None:
                d = d + F.interpolate(coarser, size=d.shape[2:],
                                      mode='bilinear', align_corners=False)
            sides.append(self.side_preds[idx](d))
            ups.append(d if d.shape[2:] == size else F.interpolate(
                d, size=size, mode='bilinear', align_corners=False))
            coarser = d
        c = self.iam(self.fuse(torch.cat(ups, dim=1)))
        x = self.res2(self.up2(self.res1(self.up1(c))))
        return self.conv_seg(x), sides


@pytest.fixture
def old_head():
    """The old head with fixed random weights and norm statistics, in eval
    mode; the outputs stay below 1, so float32 rounding stays below the
    tests' 1e-6."""
    torch.manual_seed(1)
    head = OldFTANHead().eval()
    with torch.no_grad():
        for name, tensor in head.state_dict().items():
            if name.endswith('running_var'):
                tensor.uniform_(0.5, 1.5)
            elif tensor.is_floating_point():
                tensor.normal_(0, 0.1)
    return head


def test_old_state_dict_gives_identical_outputs(old_head):
    new = make_head().eval()  # default layout: banded channels-last tail
    result = new.load_state_dict(
        convert_head_keys(old_head.state_dict(), prefix=''), strict=False)
    assert not result.missing_keys
    assert result.unexpected_keys and all(
        k.startswith('side_preds.') for k in result.unexpected_keys)
    feats = bitemporal_feats()
    with torch.no_grad():
        expected, _ = old_head(feats)
        out = new(feats)
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
        # The folded fusion bias matters: dropping it changes the output.
        new.fuse[0].bn.running_mean.copy_(old_head.fuse[1].running_mean)
        assert (new(feats) - expected).abs().max() > 1e-3


def test_old_side_predictions_convert(old_head):
    new = make_head(deep_supervision=(1., 1., 1., 1.)).eval()
    new.load_state_dict(convert_head_keys(old_head.state_dict(), prefix=''))
    feats = bitemporal_feats()
    with torch.no_grad():
        logits, sides = new._forward_all(feats)
        old_logits, old_sides = old_head(feats)
    torch.testing.assert_close(logits, old_logits, atol=1e-6, rtol=0)
    for side, old_side in zip(sides, old_sides):
        torch.testing.assert_close(side, old_side, atol=1e-6, rtol=0)


def test_conversion_of_a_model_checkpoint_keeps_other_keys(old_head):
    """Only keys under ``decode_head.`` are renamed; new-layout keys pass
    through, so converting twice changes nothing."""
    state = {f'decode_head.{k}': v for k, v in old_head.state_dict().items()}
    state['backbone.linears.0.weight'] = torch.ones(1)
    converted = convert_head_keys(state)
    assert converted['backbone.linears.0.weight'] is \
        state['backbone.linears.0.weight']
    assert 'decode_head.linears.0.conv.weight' in converted
    assert 'decode_head.fuse.0.bias' not in converted
    torch.testing.assert_close(
        converted['decode_head.fuse.0.bn.running_mean'],
        state['decode_head.fuse.1.running_mean'] -
        state['decode_head.fuse.0.bias'])
    assert list(convert_head_keys(converted)) == list(converted)
    new_keys = {f'decode_head.{k}' for k in make_head(
        deep_supervision=(1., 1., 1., 1.)).state_dict()}
    assert set(converted) - {'backbone.linears.0.weight'} == new_keys


def test_unfoldable_fusion_bias_raises(old_head):
    state = old_head.state_dict()
    del state['fuse.1.running_mean']
    with pytest.raises(ValueError, match='fuse.1.running_mean'):
        convert_head_keys(state, prefix='')
