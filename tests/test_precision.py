"""bfloat16 on CPU: the native-support check and the training wrapper."""
import torch
import torch.nn as nn
from mmengine.registry import OPTIM_WRAPPERS

from ftan_opencd.models.backbones import FTANBackbone
from ftan_opencd.utils import precision

REGISTRY_SCOPE = 'mmseg'  # model-only: runs in the modern environment too


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / 'cpuinfo'
    info.write_text('processor : 0\nflags : fpu avx512f avx512_bf16 sse\n')
    assert precision.cpu_bf16_flags(str(info)) == ('avx512_bf16', )
    info.write_text('flags : fpu avx2 amx_tile amx_bf16\n')
    assert precision.cpu_bf16_flags(str(info)) == ('amx_bf16', )
    info.write_text('flags : fpu avx2 avx512f\n')
    assert precision.cpu_bf16_flags(str(info)) == ()
    assert precision.cpu_bf16_flags(str(tmp_path / 'none')) == ()


def test_amp_dtype_follows_native_support(monkeypatch):
    monkeypatch.setattr(precision, 'cpu_bf16_flags', lambda: ('amx_bf16', ))
    assert precision.amp_dtype('cpu') == torch.bfloat16
    assert 'bfloat16 autocast on the CPU with amx_bf16' in \
        precision.describe_amp('cpu')
    monkeypatch.setattr(precision, 'cpu_bf16_flags', lambda: ())
    assert precision.amp_dtype('cpu') is None
    assert 'running float32' in precision.describe_amp('cpu')


def test_bf16_wrapper_autocasts_the_forward_only():
    torch.manual_seed(0)
    model = nn.ModuleDict(dict(
        backbone=FTANBackbone(arch=dict(embed_dims=[8, 16], depths=[1, 1],
                                        mlp_ratios=[2, 2]),
                              out_indices=(0, 1)),
        fc=nn.Linear(16, 1)))
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='BF16AutocastOptimWrapper',
        optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3)))
    seen = []
    handle = model.backbone.patch_embeds[0].register_forward_hook(
        lambda m, args, out: seen.append(out.dtype))
    x = torch.randn(2, 3, 32, 32)
    with wrapper.optim_context(model):
        feat = model['backbone'](x)[-1].mean((2, 3))
        loss = model['fc'](feat.float()).pow(2).mean()
    handle.remove()
    assert seen == [torch.bfloat16]
    before = model['fc'].weight.detach().clone()
    wrapper.update_params(loss)
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.dtype == torch.float32, name
        assert p.grad is None or torch.isfinite(p.grad).all(), name
    assert not torch.equal(model['fc'].weight, before)


def test_amp_options_pick_the_wrapper_and_test_loop(monkeypatch):
    from mmengine.config import Config
    monkeypatch.setattr(precision, 'run_device', lambda: 'cpu')

    def config():
        return Config(dict(optim_wrapper=dict(type='OptimWrapper'),
                           test_cfg=dict(type='TestLoop')))

    monkeypatch.setattr(precision, 'cpu_bf16_flags', lambda: ('avx512_bf16', ))
    cfg = config()
    assert 'bfloat16' in precision.amp_for_training(cfg)
    assert cfg.optim_wrapper.type == 'BF16AutocastOptimWrapper'
    precision.amp_for_testing(cfg)
    assert cfg.test_cfg == dict(type='TestLoop', fp16=True)

    monkeypatch.setattr(precision, 'cpu_bf16_flags', lambda: ())
    cfg = config()
    assert 'running float32' in precision.amp_for_training(cfg)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    precision.amp_for_testing(cfg)
    assert 'fp16' not in cfg.test_cfg
