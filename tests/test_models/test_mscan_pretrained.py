"""FTANBackbone from SegNeXt's MSCAN weights (mmseg ``MSCAN``), no download.

The mapping is proven by outputs: mmseg's own MSCAN with random weights,
saved and loaded into FTANBackbone with FDM-AC and PConv off, gives the same
four stage outputs.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmseg.models.backbones import MSCAN

from ftan_opencd.models.backbones import FTANBackbone
from ftan_opencd.models.backbones.mscan_weights import (
    FTAN_ONLY, MSCAN_IMAGENET_URLS, convert_mscan_state_dict,
    load_mscan_weights, mscan_to_ftan_key, widen_stem_weight)
from ftan_opencd.utils import CheckpointError, UnsafeCheckpointError
from ..conftest import REPO

# Model-only tests: no open-cd model package needed (see conftest).
REGISTRY_SCOPE = 'mmseg'
# mmseg's MSCAN closes each stage with nn.LayerNorm (eps 1e-5); FTAN's
# default stage norm has eps 1e-6 (see test_default_stage_norm_eps_is_close).
MSCAN_STAGE_NORM = dict(type='LN', eps=1e-5)


class NotInert:
    """A class a checkpoint may not import."""


def build_mscan(arch: str) -> MSCAN:
    """mmseg's MSCAN of FTAN's preset shape, random weights and BN / LN
    statistics (so that every mapped tensor matters), eval mode."""
    shape = FTANBackbone.arch_settings[arch]
    model = MSCAN(embed_dims=shape['embed_dims'], depths=shape['depths'],
                  mlp_ratios=shape['mlp_ratios'],
                  norm_cfg=dict(type='BN', requires_grad=True))
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith('num_batches_tracked'):
                continue
            if 'layer_scale' in name:  # 5-10x the 1e-2 init; finite in L
                tensor.uniform_(0.05, 0.1)
            elif name.endswith('running_var') or \
                    name.endswith('weight') and tensor.dim() == 1:
                tensor.uniform_(0.5, 1.5)
            elif tensor.dim() == 1:  # biases, running means
                tensor.normal_(0, 0.1)
    return model.eval()


def ftan(arch: str, **kwargs) -> FTANBackbone:
    kwargs.setdefault('stage_norm_cfg', MSCAN_STAGE_NORM)
    return FTANBackbone(arch=arch, **kwargs)


def pretrained(checkpoint, **options) -> dict:
    return dict(type='Pretrained', checkpoint=str(checkpoint), **options)


def loaded(model: FTANBackbone) -> FTANBackbone:
    model.init_weights()
    return model.eval()


@pytest.fixture(scope='module')
def mscan_t(tmp_path_factory):
    """(MSCAN-T, its state dict saved as a bare checkpoint file)."""
    torch.manual_seed(1)
    model = build_mscan('t')
    path = tmp_path_factory.mktemp('mscan') / 'mscan_t.pth'
    torch.save(model.state_dict(), str(path))
    return model, path


def assert_same_outputs(ours, theirs, x, **tolerance):
    with torch.no_grad():
        got, want = ours(x), theirs(x)
    assert len(got) == len(want) == 4
    for stage, (a, b) in enumerate(zip(got, want)):
        torch.testing.assert_close(a, b, msg=f'stage {stage}', **tolerance)


def test_every_mscan_key_has_one_ftan_key():
    names = build_mscan('t').state_dict()
    model = ftan('t')
    own = model.state_dict()
    converted, unused = convert_mscan_state_dict(names)
    assert unused == []
    assert len(converted) == len(names)  # one to one
    mscan_part = {k for k in own if not any(s in k for s in FTAN_ONLY)}
    assert set(converted) == mscan_part
    for key, value in converted.items():
        assert value.shape == own[key].shape, key
    assert mscan_to_ftan_key(
        'block2.0.attn.spatial_gating_unit.conv1_2.weight') == \
        'stages.1.0.attn.mcfa.strips.1.1.weight'
    assert mscan_to_ftan_key('patch_embed1.proj.3.bias') == \
        'patch_embeds.0.2.0.bias'
    assert mscan_to_ftan_key('norm4.weight') == 'stage_norms.3.weight'
    assert mscan_to_ftan_key('head.weight') is None


@pytest.mark.parametrize('arch', ['t', 's', 'b', 'l'])
def test_switches_off_equals_mmseg_mscan(arch, tmp_path, one_thread):
    torch.manual_seed(2)
    theirs = build_mscan(arch)
    path = tmp_path / f'mscan_{arch}.pth'
    torch.save(theirs.state_dict(), str(path))
    ours = loaded(ftan(arch, with_fdm=False, with_pconv=False,
                       init_cfg=pretrained(path)))
    assert_same_outputs(ours, theirs, torch.randn(2, 3, 64, 96))


@pytest.mark.parametrize('layout',
                         ['mmengine', 'segmentor', 'ddp', 'segnext-repo'])
def test_checkpoint_layouts(layout, mscan_t, tmp_path):
    theirs, _ = mscan_t
    weights = theirs.state_dict()
    if layout == 'mmengine':
        checkpoint = dict(state_dict=weights, meta=dict(epoch=300))
    elif layout == 'segmentor':
        checkpoint = dict(state_dict={
            **{f'backbone.{k}': v for k, v in weights.items()},
            'decode_head.conv_seg.weight': torch.zeros(2, 8, 1, 1)})
    elif layout == 'ddp':
        checkpoint = {f'module.{k}': v for k, v in weights.items()}
    else:  # SegNeXt's own code wraps the FFN's depthwise conv once more
        checkpoint = {
            k.replace('mlp.dwconv.', 'mlp.dwconv.dwconv.'): v
            for k, v in weights.items()
        }
        assert 'block1.0.mlp.dwconv.dwconv.weight' in checkpoint
    path = tmp_path / f'{layout}.pth'
    torch.save(checkpoint, str(path))
    ours = loaded(ftan('t', with_fdm=False, with_pconv=False,
                       init_cfg=pretrained(path)))
    assert_same_outputs(ours, theirs, torch.randn(1, 3, 64, 64))


def test_deprecated_pretrained_argument_loads_mscan(mscan_t):
    theirs, path = mscan_t
    ours = loaded(ftan('t', with_fdm=False, with_pconv=False,
                       pretrained=str(path)))
    assert_same_outputs(ours, theirs, torch.randn(1, 3, 64, 64))


def test_default_stage_norm_eps_is_close(mscan_t):
    """FTAN's default stage LayerNorm has eps 1e-6, MSCAN's 1e-5: the only
    architectural difference with FDM-AC and PConv off."""
    theirs, path = mscan_t
    ours = loaded(FTANBackbone('t', with_fdm=False, with_pconv=False,
                               init_cfg=pretrained(path)))
    assert ours.stage_norms[0].eps == 1e-6
    assert_same_outputs(ours, theirs, torch.randn(1, 3, 64, 64),
                        rtol=1e-3, atol=1e-3)


def test_fdm_and_pconv_keep_their_init_and_are_logged(mscan_t, log):
    theirs, path = mscan_t
    torch.manual_seed(3)
    ours = loaded(ftan('t', init_cfg=pretrained(path)))
    torch.manual_seed(3)
    scratch = loaded(ftan('t'))  # the reference initialisation
    mscan_weights, _ = convert_mscan_state_dict(theirs.state_dict())
    own = ours.state_dict()
    ftan_only = [k for k in own if any(s in k for s in FTAN_ONLY)]
    assert len(ftan_only) == 13 * 5  # 13 blocks: w_r, w_i, proj w/b, pconv
    for key in ftan_only:
        torch.testing.assert_close(own[key], scratch.state_dict()[key],
                                   rtol=0, atol=0, msg=key)
    assert own[ftan_only[2]].std() > 0  # proj: N(0, 0.02), not zeros
    for key, value in mscan_weights.items():
        torch.testing.assert_close(own[key], value, rtol=0, atol=0, msg=key)
    text = log.text
    assert f'loaded {len(mscan_weights)} of {len(own)} parameters' in text
    assert "arch 't'" in text
    assert f'kept at their initialisation ({len(ftan_only)})' in text
    for name in ('fdm.w_r', 'fdm.w_i', 'fdm.proj.weight', 'fdm.proj.bias',
                 'pconv.conv.weight'):
        assert f'stages.<i>.<j>.attn.mcfa.{name} (x13)' in text


def test_load_report_names_keys(mscan_t):
    _, path = mscan_t
    model = ftan('t', with_pconv=False)
    report = load_mscan_weights(model, str(path))
    assert len(report['not_loaded']) == 13 * 4
    assert all('.fdm.' in k for k in report['not_loaded'])
    assert report['unused'] == []


def test_wrong_arch_is_refused_with_shapes(mscan_t):
    _, path = mscan_t
    model = ftan('b', init_cfg=pretrained(path))
    with pytest.raises(CheckpointError) as info:
        model.init_weights()
    message = str(info.value)
    assert "embed_dims [32, 64, 160, 256], depths [3, 3, 5, 2] (arch 't')" \
        in message
    assert "(arch 'b')" in message
    assert 'shape mismatches' in message
    assert 'patch_embeds.0.0.0.weight: checkpoint (16, 3, 3, 3) vs model ' \
        '(32, 3, 3, 3)' in message


def test_shallower_arch_is_refused_unless_partial(tmp_path):
    """MSCAN-S has MSCAN-B's widths and fewer blocks: every S tensor fits
    B, but B's extra blocks would stay random."""
    path = tmp_path / 'mscan_s.pth'
    torch.save(build_mscan('s').state_dict(), str(path))
    with pytest.raises(CheckpointError, match=r'missing in the checkpoint'):
        ftan('b', init_cfg=pretrained(path)).init_weights()
    model = ftan('b', init_cfg=pretrained(path, partial=True))
    model.init_weights()  # loads what fits, on purpose


def test_not_an_mscan_checkpoint_is_refused(tmp_path):
    path = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7)}, str(path))
    with pytest.raises(CheckpointError, match='not an mmseg MSCAN'):
        ftan('t', init_cfg=pretrained(path, partial=True)).init_weights()


def test_unsafe_checkpoint_is_refused(mscan_t, tmp_path):
    theirs, _ = mscan_t
    path = tmp_path / 'unsafe.pth'
    torch.save(dict(state_dict=theirs.state_dict(), extra=NotInert()),
               str(path))
    with pytest.raises(UnsafeCheckpointError, match='NotInert'):
        ftan('t', init_cfg=pretrained(path)).init_weights()


def test_ftan_checkpoint_loads_as_it_is(tmp_path):
    torch.manual_seed(4)
    source = loaded(ftan('t'))
    path = tmp_path / 'ftan_segmentor.pth'
    torch.save(dict(state_dict={
        f'backbone.{k}': v
        for k, v in source.state_dict().items()
    }), str(path))
    torch.manual_seed(5)
    model = loaded(ftan('t', init_cfg=pretrained(path)))
    x = torch.randn(1, 3, 64, 64)
    assert_same_outputs(model, source, x, rtol=0, atol=0)


def test_url_is_read_from_the_torch_hub_cache(mscan_t, tmp_path):
    theirs, path = mscan_t
    url = MSCAN_IMAGENET_URLS['t']
    cached = tmp_path / 'checkpoints' / osp.basename(url)
    cached.parent.mkdir()
    cached.write_bytes(path.read_bytes())
    hub_dir = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))
    try:
        ours = loaded(ftan('t', with_fdm=False, with_pconv=False,
                           init_cfg=pretrained(url)))
    finally:
        torch.hub.set_dir(hub_dir)
    assert_same_outputs(ours, theirs, torch.randn(1, 3, 64, 64))


def test_other_schemes_are_refused():
    model = ftan('t', init_cfg=pretrained('s3://bucket/mscan_t.pth'))
    with pytest.raises(ValueError, match='local file or an http'):
        model.init_weights()


def test_pretrained_needs_a_checkpoint():
    with pytest.raises(ValueError, match='needs a checkpoint'):
        ftan('t', init_cfg=dict(type='Pretrained')).init_weights()


# Stem widening for N bands: W' = 3/N * (R, G, B filters on rgb_bands, the
# mean RGB filter on every other band).


def test_widening_rule_weights():
    weight = torch.randn(16, 3, 3, 3)
    mean = weight.mean(dim=1)
    four = widen_stem_weight(weight, 4, (0, 1, 2))
    torch.testing.assert_close(four[:, :3], weight * 3 / 4)
    torch.testing.assert_close(four[:, 3], mean * 3 / 4)
    bgrn = widen_stem_weight(weight, 5, (2, 1, 0))
    torch.testing.assert_close(bgrn[:, [2, 1, 0]], weight * 3 / 5)
    torch.testing.assert_close(bgrn[:, 3], mean * 3 / 5)
    grey = widen_stem_weight(weight, 1, None)
    torch.testing.assert_close(grey[:, 0], weight.sum(dim=1))
    torch.testing.assert_close(
        widen_stem_weight(weight, 3, (0, 1, 2)), weight, rtol=0, atol=0)
    for widened in (four, bgrn, grey):  # the sum over bands is kept
        torch.testing.assert_close(widened.sum(dim=1), weight.sum(dim=1))


@pytest.mark.parametrize('bands, rgb_bands', [(4, 'auto'), (5, (2, 1, 0)),
                                              (1, 'auto'), (2, None)])
def test_widened_model_equals_mscan_on_equal_bands(bands, rgb_bands, mscan_t,
                                                   log):
    """N equal bands g give exactly MSCAN's output for the RGB image
    (g, g, g), at every stage."""
    theirs, path = mscan_t
    options = {} if rgb_bands == 'auto' else dict(rgb_bands=rgb_bands)
    ours = loaded(ftan('t', in_channels=bands, with_fdm=False,
                       with_pconv=False,
                       init_cfg=pretrained(path, **options)))
    grey = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        got = ours(grey.expand(-1, bands, -1, -1))
        want = theirs(grey.expand(-1, 3, -1, -1))
    for stage, (a, b) in enumerate(zip(got, want)):
        torch.testing.assert_close(a, b, msg=f'stage {stage}')
    assert f'stem widened from RGB to {bands} bands' in log.text


def test_four_bands_rgb_filters_see_rgb(mscan_t):
    theirs, path = mscan_t
    ours = loaded(ftan('t', in_channels=4, init_cfg=pretrained(path)))
    stem = ours.patch_embeds[0][0][0]
    rgb = theirs.patch_embed1.proj[0]
    torch.testing.assert_close(stem.weight[:, :3], rgb.weight * 3 / 4)
    torch.testing.assert_close(stem.bias, rgb.bias)


@pytest.mark.parametrize('rgb_bands', [(0, 1), (0, 0, 1), (1, 2, 4)])
def test_bad_rgb_bands_are_refused(rgb_bands, mscan_t):
    _, path = mscan_t
    model = ftan('t', in_channels=4,
                 init_cfg=pretrained(path, rgb_bands=rgb_bands))
    with pytest.raises(ValueError, match='rgb_bands must be three distinct'):
        model.init_weights()


@pytest.mark.parametrize('dataset', ['levircd', 'dsifncd'])
def test_pretrained_configs(dataset):
    cfg = Config.fromfile(osp.join(
        REPO, f'configs/ftan/ftan-b_in1k-pre_256x256_200e_{dataset}.py'))
    base = Config.fromfile(osp.join(
        REPO, f'configs/ftan/ftan-b_256x256_200e_{dataset}.py'))
    backbone = cfg.model.backbone
    assert backbone.arch == 'b'
    assert backbone.init_cfg == dict(type='Pretrained',
                                     checkpoint=MSCAN_IMAGENET_URLS['b'])
    preprocessor = cfg.model.data_preprocessor
    assert preprocessor.mean == [123.675, 116.28, 103.53] * 2
    assert preprocessor.std == [58.395, 57.12, 57.375] * 2
    assert preprocessor.bgr_to_rgb
    assert backbone.stage_norm_cfg == dict(type='LN', eps=1e-5)
    # Otherwise the paper recipe.
    for key in ('optim_wrapper', 'train_dataloader', 'param_scheduler',
                'train_cfg'):
        assert cfg[key] == base[key], key
    assert cfg.model.decode_head == base.model.decode_head
    assert cfg.model.test_cfg == base.model.test_cfg


@pytest.mark.needs_torchvision  # builds open-cd's SiamEncoderDecoder
def test_pretrained_config_initialises_the_detector(tmp_path, log):
    from mmengine.registry import DefaultScope
    from opencd.registry import MODELS
    torch.manual_seed(6)
    mscan = build_mscan('b')
    path = tmp_path / 'mscan_b.pth'
    torch.save(mscan.state_dict(), str(path))
    cfg = Config.fromfile(osp.join(
        REPO, 'configs/ftan/ftan-b_in1k-pre_256x256_200e_levircd.py'))
    cfg.model.backbone.init_cfg.checkpoint = str(path)
    with DefaultScope.overwrite_default_scope('opencd'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    stem = model.backbone.patch_embeds[0][0][0].weight
    torch.testing.assert_close(stem, mscan.patch_embed1.proj[0].weight,
                               rtol=0, atol=0)
    assert 'loaded 841 of 946 parameters' in log.text
