"""Tests of tools/benchmark.py and ftan_tools.benchmark (tiny sizes)."""
import json
import os
import os.path as osp
from argparse import Namespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.analysis import get_model_complexity_info

import ftan_opencd  # noqa: F401  registers FTAN in open-cd
from ftan_tools.benchmark import worker
from ftan_tools.benchmark.complexity import complexity_info
from ftan_tools.benchmark.learning import learning_config
from ftan_tools.benchmark.measure import amp_dtype, interleaved_timing
from ftan_tools.benchmark.report import reference_markdown
from ftan_tools.benchmark.zoo import build_model
from .conftest import load_tool

CPU = torch.device('cpu')


@pytest.mark.needs_torchvision  # builds open-cd models
def test_quick_benchmark_writes_json_and_markdown(tmp_path):
    models = ['fc-siam-diff', 'bit-r18']
    load_tool('benchmark').main([
        '--quick', '--models', *models, '--no-reference', '--baseline',
        'fc-siam-diff', '--threads', '1', '--out', str(tmp_path)])
    report = json.loads((tmp_path / 'benchmark.json').read_text())
    assert report['command'].startswith('python tools/benchmark.py --quick')
    for key in ('cpu', 'logical_cores', 'torch', 'device', 'memory_gb'):
        assert report['machine'][key]
    assert report['settings']['size'] == 64
    assert report['settings']['threads'] == 1
    assert report['settings']['large'] == 128
    assert list(report['models']) == models
    for name in models:
        result = report['models'][name]
        assert 'exit_code' not in result, (
            tmp_path / 'logs' / f'{name}.log').read_text()
        assert result['complexity']['params'] > 0
        assert result['complexity']['flops'] > 0
        assert result['complexity']['input_shape'] == [1, 6, 64, 64]
        for key in ('train', 'infer_64', 'infer_128'):
            assert result[key]['median_s'] > 0
            assert len(result[key]['times_s']) == 1
            assert result[key]['peak_mb'] > 100  # RSS includes torch
        row = report['rows'][name]
        assert all(value is not None for value in row.values()), row
        assert row['train_pairs_per_s'] == pytest.approx(
            2 / result['train']['median_s'])
    assert all(v == pytest.approx(1.0)
               for v in report['ratios']['fc-siam-diff'].values())
    markdown = (tmp_path / 'benchmark.md').read_text()
    assert '| Model | Params (M) | FLOPs (G)' in markdown
    assert '| Train pairs/s |' in markdown and 'autocast: off' in markdown
    assert 'Ratios to fc-siam-diff' in markdown
    assert all(f'| {name} |' in markdown for name in models)


@pytest.mark.needs_torchvision  # builds open-cd models
@pytest.mark.usefixtures('one_thread')
def test_reference_pattern_matches_fast_on_same_weights():
    fast = build_model('ftan-t')
    reference = build_model('ftan-t', 'reference',
                            state_dict=fast.state_dict())
    mcfa = reference.backbone.stages[0][0].attn.mcfa
    assert mcfa.fdm.impl == 'reference'
    assert reference.decode_head.iam.self_context.attention.__name__ == \
        'naive_attention'
    head = reference.decode_head
    assert not head.channels_last_tail and head.band_pixels is None
    assert fast.backbone.stages[0][0].attn.mcfa.fdm.impl == 'lowpass'
    assert fast.decode_head.channels_last_tail

    result = worker.agreement(fast, reference, 64, CPU)
    assert result['max_abs_diff'] < 1e-4
    assert result['argmax_agreement'] == 1.0
    fdm = result['components']['fdm_magnitude']
    assert fdm['calls'] == 2 * 13  # two dates x FTAN-T's 13 blocks
    assert fdm['max_abs_diff'] < 1e-5 * max(1.0, fdm['max_abs_value'])
    attention = result['components']['attention_context']
    assert attention['calls'] == 2
    assert attention['max_abs_diff'] < 1e-5

    spec = dict(amp=None, warmup=0, repeats=2,
                interleave=dict(size=64, batch=1))
    timing = worker.interleaved_comparison(fast, reference, spec, CPU)
    assert set(timing) == {'train', 'infer_64', 'size', 'batch'}
    for key in ('train', 'infer_64'):
        t = timing[key]
        assert len(t['fast']['times_s']) == len(t['reference']['times_s']) \
            == 2
        assert t['speedup'] == pytest.approx(
            t['reference']['median_s'] / t['fast']['median_s'])
    markdown = reference_markdown(
        dict(model='ftan-t', fast={}, reference=dict(interleaved=timing)),
        {})
    assert 'Timed in alternation' in markdown
    assert f'**{timing["train"]["speedup"]:.2f}x**' in markdown


def test_interleaved_timing_alternates_calls():
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in 'ab'}
    timing = interleaved_timing(fns, CPU, warmup=1, repeats=3)
    assert calls == ['a', 'b'] * 4
    assert [len(timing[n]['times_s']) for n in 'ab'] == [3, 3]


def test_amp_dtype_choices():
    cuda = torch.device('cuda')
    assert amp_dtype(CPU, None) is None and amp_dtype(CPU, False) is None
    assert amp_dtype(CPU, True) == amp_dtype(CPU, 'auto') == torch.bfloat16
    assert amp_dtype(cuda, 'auto') == torch.float16
    assert amp_dtype(cuda, 'bf16') == torch.bfloat16
    assert amp_dtype(CPU, 'fp16') == torch.float16
    with pytest.raises(ValueError, match='fp8'):
        amp_dtype(CPU, 'fp8')
    args = load_tool('benchmark').parse_benchmark_args(['--amp', 'bf16'])
    assert args.amp == 'bf16'
    assert load_tool('benchmark').parse_benchmark_args(['--amp']).amp == \
        'auto'


def test_reference_memory_guard(monkeypatch):
    # 1024^2 input: N = 256^2 tokens, two float32 N x N maps = 32 GiB.
    assert worker.attention_map_mb(1, 1024, train=False) == 32768
    assert worker.attention_map_mb(2, 256, train=True) == 4 * 2 * 4096**2 * 4 \
        / 1024**2
    monkeypatch.setattr(worker, 'available_memory_mb', lambda device: 20000)
    spec = dict(variant='reference')
    skip = worker.memory_guard(spec, dict(task='infer', size=1024), CPU)
    assert 'skipped' in skip and skip['estimated_mb'] == 32768
    assert worker.memory_guard(spec, dict(task='infer', size=512), CPU) == {}
    assert worker.memory_guard(dict(variant='fast'),
                               dict(task='infer', size=1024), CPU) == {}


class _AttentionAndDft(nn.Module):
    """A 2-D by 4-D matmul (undercounted by mmengine) and an SDPA call."""

    def __init__(self):
        super().__init__()
        self.register_buffer('dft', torch.randn(8, 16))

    def forward(self, x):
        y = self.dft @ x  # (8, 16) @ (1, 6, 16, 16) -> (1, 6, 8, 16)
        q = y.flatten(2).transpose(1, 2)  # (1, 128, 6)
        return F.scaled_dot_product_attention(q, q, q)


def test_complexity_counts_what_mmengine_misses():
    info = complexity_info(_AttentionAndDft(), 16, CPU)
    # mmengine: 8 * 16 * 16 for the matmul (batch 1 x 6 ignored), no SDPA.
    assert info['flops'] == 8 * 16 * 16
    assert info['uncounted_heavy'] == {
        'aten::scaled_dot_product_attention': 1}
    matmul = 6 * 8 * 16 * 16
    sdpa = 128 * 128 * (6 + 6)
    assert info['flops_extended'] == matmul + sdpa
    assert info['uncounted_heavy_extended'] == {}


@pytest.mark.needs_torchvision  # builds open-cd models
@pytest.mark.usefixtures('one_thread')
def test_complexity_flops_equal_get_model_complexity_info():
    model = build_model('fc-siam-diff').eval()
    info = complexity_info(model, 64, CPU)
    reference = get_model_complexity_info(
        model, inputs=(torch.randn(1, 6, 64, 64), ), show_table=False,
        show_arch=False)
    assert info['flops'] == reference['flops']
    assert info['params'] == reference['params']


def test_learning_config_uses_one_recipe(tmp_path):
    args = Namespace(data_root='data/demo-cd', iters=20, batch=4, lr=5e-4,
                     seed=3, test_images=5, out=str(tmp_path))
    cfg = learning_config('bit-r18', args)
    assert cfg.model.decode_head.type == 'BITHead'
    assert cfg.train_cfg.max_iters == 20
    assert cfg.param_scheduler[0]['end'] == 2
    assert cfg.param_scheduler[1]['end'] == 20
    assert cfg.optim_wrapper.optimizer.lr == 5e-4
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.test_dataloader.dataset.indices == 5
    assert cfg.train_dataloader.dataset.data_root == osp.abspath(
        'data/demo-cd')
    assert cfg.test_evaluator.type == 'ChangeMetric'
    assert cfg.randomness.seed == 3
    assert cfg.val_cfg is None


@pytest.mark.needs_torchvision  # builds open-cd models
def test_precision_subcommand_reports_three_trainings_and_two_inferences(
        tmp_path):
    load_tool('benchmark').main([
        'precision', '--model', 'ftan-t', '--batch', '1', '--size', '64',
        '--large', '64', '--warmup', '0', '--repeats', '1',
        '--large-repeats', '1', '--threads', '1', '--out', str(tmp_path)])
    report = json.loads((tmp_path / 'precision.json').read_text())
    assert list(report['train']) == ['reference float32', 'fast float32',
                                     'fast bf16']
    assert list(report['infer']) == ['float32', 'amp']
    for result in [*report['train'].values(), *report['infer'].values()]:
        assert result['median_s'] > 0 and result['peak_mb'] >= 0
    text = (tmp_path / 'precision.md').read_text()
    assert 'Native bfloat16 flags:' in text and '| fast bf16 |' in text
    assert set(report['infer_parts']) == {
        'encoder float32', 'decode head float32', 'encoder bf16',
        'decode head bf16'}


@pytest.mark.needs_torchvision
def test_distributed_benchmark_rows(tmp_path):
    """1 vs 2 processes on a tiny folder: one row per process count, a
    peak memory per rank, the speed-up against one process."""
    from ftan_tools.benchmark.distributed import markdown, run_distributed
    from .conftest import free_port
    rows = run_distributed(str(tmp_path), pairs=2, pair_size=64, scene=0,
                           window=64, port=int(free_port()), repeat=2)
    assert [(r['workload'], r['procs']) for r in rows] == [('folder', 1),
                                                          ('folder', 2)]
    assert [len(r['peak_rss_mib']) for r in rows] == [1, 2]
    assert all(m > 50 for r in rows for m in r['peak_rss_mib'])
    assert rows[0]['speedup'] == 1.0
    for r in rows:  # the median of the rounds
        assert len(r['walls_s']) == 2
        assert r['wall_s'] == pytest.approx(sum(r['walls_s']) / 2)
    assert rows[1]['speedup'] == pytest.approx(rows[0]['wall_s'] /
                                               rows[1]['wall_s'])
    assert rows[1]['per_s'] == pytest.approx(2 / rows[1]['wall_s'])
    for r in rows:  # start-up measured apart, on one 64² pair
        assert 0 < r['startup_s'] and r['work_s'] == pytest.approx(
            max(r['wall_s'] - r['startup_s'], 1e-3))
    assert rows[1]['work_speedup'] == pytest.approx(rows[0]['work_s'] /
                                                    rows[1]['work_s'])
    for count in (1, 2):  # every pair written, one summary
        assert sorted(os.listdir(tmp_path / f'folder_{count}')) == [
            '00000.png', '00001.png', 'predict_summary.json']
    assert markdown(rows).count('\n') == 3
