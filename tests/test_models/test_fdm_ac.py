import pytest
import torch

from ftan_opencd.models.backbones.fdm_ac import (FDMAC, fdm_ac_lowpass,
                                                 fdm_ac_reference,
                                                 window_bounds)

# Model-only tests: no open-cd model package needed (see conftest).
REGISTRY_SCOPE = 'mmseg'

@pytest.mark.parametrize('shape', [(2, 3, 16, 16), (1, 2, 7, 5), (1, 4, 3, 9),
                                   (1, 1, 1, 1), (2, 2, 2, 2), (1, 3, 64, 33),
                                   (1, 2, 8, 8)])
def test_lowpass_matches_reference(shape):
    x = torch.randn(shape)
    w_r, w_i = torch.randn(()), torch.randn(())
    ref = fdm_ac_reference(x, w_r, w_i)
    fast = fdm_ac_lowpass(x, w_r, w_i)
    assert fast.shape == x.shape and fast.dtype == torch.float32
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-4)


def test_per_channel_weights_and_custom_scales():
    x = torch.randn(2, 5, 12, 10)
    w_r, w_i = torch.randn(5), torch.randn(5)
    torch.testing.assert_close(
        fdm_ac_lowpass(x, w_r, w_i, (2, 5)),
        fdm_ac_reference(x, w_r, w_i, (2, 5)), atol=1e-5, rtol=1e-4)
    # Per-channel weights act per channel: channel 0 alone gives the same.
    torch.testing.assert_close(
        fdm_ac_lowpass(x[:, :1], w_r[:1], w_i[:1], (2, 5)),
        fdm_ac_lowpass(x, w_r, w_i, (2, 5))[:, :1], atol=1e-5, rtol=1e-4)


def test_window_is_clamped_not_wrapped():
    assert window_bounds(3, 4) == (0, 3)
    assert window_bounds(16, 4) == (4, 12)
    # On a 3x3 map every scale >= 2 keeps the whole spectrum: the result is
    # then |ifft(w_r Re F + i w_i Im F)| with w_r = w_i = 1, i.e. |x|.
    x = torch.randn(1, 1, 3, 3)
    one = torch.ones(())
    torch.testing.assert_close(
        fdm_ac_lowpass(x, one, one, (2, 3)), x.abs(), atol=1e-5, rtol=1e-4)


def test_scale_one_is_dc_only():
    # Scale 1 keeps rows/cols [h//2 - 1, h//2 + 1) after fftshift, i.e.
    # frequencies -1 and 0 on each axis.
    x = torch.randn(1, 1, 8, 8)
    freq = torch.fft.fft2(x)
    keep = torch.zeros(8, 8, dtype=torch.bool)
    for u in (0, 7):
        for v in (0, 7):
            keep[u, v] = True
    expected = torch.fft.ifft2(freq * keep).abs()
    one = torch.ones(())
    torch.testing.assert_close(
        fdm_ac_lowpass(x, one, one, (1, )), expected, atol=1e-5, rtol=1e-4)


def test_gradients_reach_weights_and_match_reference():
    x = torch.randn(2, 3, 9, 12, requires_grad=True)
    grads = []
    for fn in (fdm_ac_reference, fdm_ac_lowpass):
        w_r = torch.tensor(0.7, requires_grad=True)
        w_i = torch.tensor(-1.3, requires_grad=True)
        x.grad = None
        (fn(x, w_r, w_i) * torch.linspace(0, 1, 12)).sum().backward()
        grads.append((w_r.grad, w_i.grad, x.grad.clone()))
    for fast, ref in zip(grads[1], grads[0]):
        assert torch.isfinite(fast).all() and fast.abs().sum() > 0
        torch.testing.assert_close(fast, ref, atol=1e-4, rtol=1e-3)


def test_module_runs_float32_under_autocast():
    module = FDMAC(4)
    x = torch.randn(1, 4, 16, 16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = module(x.bfloat16())
    assert out.dtype == torch.bfloat16
    expected = module.proj(
        fdm_ac_reference(x.bfloat16(), module.w_r, module.w_i))
    torch.testing.assert_close(out.float(), expected, atol=0.1, rtol=0.05)


def test_module_impls_agree_and_bad_arguments():
    module = FDMAC(3, per_channel_weights=True)
    assert module.w_r.shape == (3, )
    x = torch.randn(2, 3, 10, 7)
    fast = module(x)
    module.impl = 'reference'
    torch.testing.assert_close(module(x), fast, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match='impl'):
        FDMAC(3, impl='cuda')
    with pytest.raises(ValueError, match='scales'):
        FDMAC(3, scales=(0, 1))
