import pytest
import torch

from ftan_opencd.models.backbones import MCFA, FTANBackbone, PartialConv

# Model-only tests: no open-cd model package needed (see conftest).
REGISTRY_SCOPE = 'mmseg'


def test_pconv_leaves_three_quarters_untouched():
    pconv = PartialConv(16)
    x = torch.randn(2, 16, 9, 7)
    out = pconv(x)
    assert pconv.conv.in_channels == 4 and pconv.conv.bias is None
    torch.testing.assert_close(out[:, 4:], x[:, 4:], rtol=0, atol=0)
    torch.testing.assert_close(out[:, :4], pconv.conv(x[:, :4]))
    assert not torch.allclose(out[:, :4], x[:, :4])


def test_mcfa_sums_its_branches():
    mcfa = MCFA(8)
    x = torch.randn(2, 8, 12, 10)
    a = mcfa.conv0(x) * mcfa.fdm(x)
    s = a + mcfa.pconv(a) + sum(strip(a) for strip in mcfa.strips)
    torch.testing.assert_close(mcfa(x), mcfa.conv3(s) * x)
    # Strip kernels are 1 x n then n x 1, n in (7, 11, 21), depthwise.
    shapes = [tuple(conv.weight.shape) for s in mcfa.strips for conv in s]
    assert shapes == [(8, 1, 1, 7), (8, 1, 7, 1), (8, 1, 1, 11),
                      (8, 1, 11, 1), (8, 1, 1, 21), (8, 1, 21, 1)]


def test_mcfa_switches_off_give_msca():
    mcfa = MCFA(8, with_fdm=False, with_pconv=False)
    assert mcfa.fdm is None and mcfa.pconv is None
    x = torch.randn(1, 8, 11, 13)
    a = mcfa.conv0(x)
    expected = mcfa.conv3(a + sum(s(a) for s in mcfa.strips)) * x
    torch.testing.assert_close(mcfa(x), expected)


@pytest.mark.parametrize('size', [(64, 64), (96, 64), (67, 45), (33, 97)])
def test_output_shapes(size):
    model = FTANBackbone(arch='t')
    outs = model(torch.randn(1, 3, *size))
    assert len(outs) == 4
    h, w = size
    for i, (out, dim) in enumerate(zip(outs, [32, 64, 160, 256])):
        stride = 4 * 2**i
        # every stride-2 conv (kernel 3, padding 1) rounds up
        assert out.shape == (1, dim, -(-h // stride), -(-w // stride))


def test_multispectral_out_indices_and_arch_dict():
    arch = dict(embed_dims=[8, 16], depths=[1, 1], mlp_ratios=[2, 2])
    model = FTANBackbone(arch=arch, in_channels=4, out_indices=(1, ))
    outs = model(torch.randn(2, 4, 32, 32))
    assert len(outs) == 1 and outs[0].shape == (2, 16, 4, 4)


def test_fdm_scales_and_per_channel_reach_every_block():
    model = FTANBackbone(arch='t', fdm_scales=(1, 2), fdm_per_channel=True)
    gates = [m.fdm for m in model.modules() if isinstance(m, MCFA)]
    assert len(gates) == 3 + 3 + 5 + 2
    assert all(g.scales == (1, 2) and g.w_r.numel() > 1 for g in gates)


def test_ablation_switches_remove_modules():
    model = FTANBackbone(arch='t', with_fdm=False, with_pconv=False)
    params = sum(p.numel() for p in model.parameters())
    full = sum(p.numel() for p in FTANBackbone(arch='t').parameters())
    assert params < full
    assert all(m.fdm is None and m.pconv is None
               for m in model.modules() if isinstance(m, MCFA))


def test_with_cp_gives_same_output_and_gradients():
    torch.manual_seed(0)
    plain = FTANBackbone(arch='t', drop_path_rate=0.)
    ckpt = FTANBackbone(arch='t', drop_path_rate=0., with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    for model in (plain, ckpt):
        model.train()
        sum(o.sum() for o in model(x)).backward()
    torch.testing.assert_close(ckpt(x)[3], plain(x)[3])
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(q.grad, p.grad, msg=name)


def test_reference_init():
    model = FTANBackbone(arch='t')
    model.init_weights()
    bn = model.stages[0][0].norm1
    assert abs(bn.weight.mean().item() - 1) < 0.02
    assert 0.005 < bn.weight.std().item() < 0.04
    conv = model.stages[2][0].mlp[0]
    assert abs(conv.weight.std().item() - 0.02) < 0.004
    assert conv.bias.abs().max() == 0


def test_pretrained_sets_init_cfg():
    model = FTANBackbone(arch='t', pretrained='ckpt.pth')
    assert model.init_cfg == dict(type='Pretrained', checkpoint='ckpt.pth')
    with pytest.raises(ValueError, match='not both'):
        FTANBackbone(pretrained='a.pth', init_cfg=dict(type='Pretrained'))


@pytest.mark.parametrize('kwargs, match', [
    (dict(arch='xl'), 'unknown arch'),
    (dict(arch=dict(embed_dims=[8])), 'custom arch'),
    (dict(arch=dict(embed_dims=[8, 8], depths=[1], mlp_ratios=[2, 2])),
     'one entry per stage'),
    (dict(out_indices=(4, )), 'out_indices'),
    (dict(in_channels=0), 'in_channels'),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FTANBackbone(**kwargs)


def test_wrong_input_channels_raise():
    model = FTANBackbone(arch='t', in_channels=4)
    with pytest.raises(ValueError, match=r'\(B, 4, H, W\)'):
        model(torch.randn(1, 3, 32, 32))
