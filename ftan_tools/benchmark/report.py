"""Machine information and the Markdown report of a benchmark run."""
import os
import platform
from typing import Dict

import torch

from .measure import amp_dtype


def _get(result: Dict, *keys):
    """Nested lookup returning None for a missing or skipped entry."""
    for key in keys:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


def machine_info(device: str) -> Dict:
    """CPU, memory, library versions and accelerator of this machine."""
    import mmcv
    import mmengine
    import mmseg
    import opencd
    cpu = platform.processor() or 'unknown'
    if os.path.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [ln.split(':', 1)[1].strip() for ln in f
                     if ln.startswith('model name')]
        cpu = names[0] if names else cpu
    info = dict(
        cpu=cpu,
        logical_cores=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        platform=platform.platform(),
        python=platform.python_version(),
        torch=torch.__version__,
        mmcv=mmcv.__version__,
        mmengine=mmengine.__version__,
        mmseg=mmseg.__version__,
        opencd=opencd.__version__,
        device=device,
        load_avg_start=list(os.getloadavg()))
    if hasattr(os, 'sysconf') and 'SC_PHYS_PAGES' in os.sysconf_names:
        info['memory_gb'] = round(
            os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 1e9, 1)
    if device.startswith('cuda'):
        info['gpu'] = torch.cuda.get_device_name(torch.device(device))
        info['cuda'] = torch.version.cuda
    return info


def machine_line(machine: Dict) -> str:
    """One readable line of :func:`machine_info`'s record."""
    load = '/'.join(f'{x:.1f}' for x in machine['load_avg_start'][:1] +
                    machine.get('load_avg_end', [])[:1])
    return (f'{machine["cpu"]}, {machine["logical_cores"]} logical cores '
            f'({machine["torch_threads"]} torch threads), '
            f'{machine.get("memory_gb", "?")} GB RAM'
            + (f', {machine["gpu"]} (CUDA {machine["cuda"]})'
               if 'gpu' in machine else '')
            + f'; {machine["platform"]}; Python {machine["python"]}, torch '
            f'{machine["torch"]}, mmcv {machine["mmcv"]}, mmengine '
            f'{machine["mmengine"]}, mmseg {machine["mmseg"]}, open-cd '
            f'{machine["opencd"]}; device {machine["device"]}; 1-min load '
            f'average at start/end {load}')


def timing_row(result: Dict, small: int, large: int) -> Dict:
    """The headline numbers of one model (None where not measured).

    Args:
        result (dict): The worker's record of the model.
        small (int): Side of the small inference input (``--size``).
        large (int): Side of the large inference input (``--large``).
    """
    train_s = _get(result, 'train', 'median_s')
    batch = _get(result, 'train', 'batch')
    return {
        'params_m': _scale(_get(result, 'complexity', 'params'), 1e-6),
        'flops_g': _scale(_get(result, 'complexity', 'flops'), 1e-9),
        'flops_ext_g': _scale(_get(result, 'complexity', 'flops_extended'),
                              1e-9),
        'train_s': train_s,
        'train_pairs_per_s': batch / train_s if train_s and batch else None,
        'train_peak_mb': _get(result, 'train', 'peak_mb'),
        'infer_small_ms': _scale(
            _get(result, f'infer_{small}', 'median_s'), 1e3),
        'infer_large_s': _get(result, f'infer_{large}', 'median_s'),
        'infer_large_peak_mb': _get(result, f'infer_{large}', 'peak_mb'),
    }


def _amp_label(settings: Dict) -> str:
    """Readable autocast setting of a run ('off', 'float16', ...)."""
    dtype = amp_dtype(torch.device(settings['device']), settings.get('amp'))
    return 'off' if dtype is None else str(dtype).replace('torch.', '')


def _scale(value, factor):
    return None if value is None else value * factor


def ratios(rows: Dict[str, Dict], baseline: str) -> Dict[str, Dict]:
    """Each model's numbers divided by the baseline's (None if missing)."""
    base = rows.get(baseline)
    if base is None:
        return {}
    return {
        name: {
            k: (v / base[k] if v is not None and base.get(k) else None)
            for k, v in row.items()
        }
        for name, row in rows.items()
    }


def _fmt(value, spec: str = '{:.2f}') -> str:
    return '–' if value is None else spec.format(value)


def _status(result: Dict, key: str) -> str:
    """'skipped'/'error' note for a missing measurement, else ''."""
    entry = result.get(key) or {}
    if 'skipped' in entry:
        return 'skipped'
    if 'error' in entry:
        return 'error'
    return ''


def markdown_report(report: Dict) -> str:
    """The Markdown tables of a benchmark report (see :mod:`.runner`)."""
    s = report['settings']
    lines = [
        '## Speed, memory and complexity', '',
        f'Command: `{report["command"]}`', '',
        'Machine: ' + machine_line(report['machine']), '',
        (f'{s["threads"]} torch thread(s) per measuring process. '
         if s.get('threads') else '') +
        f'Medians of {s["repeats"]} runs after {s["warmup"]} warm-up run(s) '
        f'({s["large_runs"]["repeats"]} after {s["large_runs"]["warmup"]} '
        f'at {s["large"]}²); '
        f'train step = forward with loss + backward + AdamW step, batch '
        f'{s["batch"]}, {s["size"]}² (pairs/s = batch / step time); '
        f'autocast: {_amp_label(s)}; inference = `model.predict` of one '
        f'pair (whole image); FLOPs of one {s["size"]}² pair '
        '(multiply-accumulates); peak memory = '
        + ('`torch.cuda.max_memory_allocated`' if s['device'] != 'cpu' else
           'peak RSS of the model\'s own process (`ru_maxrss`, reset before '
           'each measurement), including ~0.5 GB of libraries') + '.', '',
        f'| Model | Params (M) | FLOPs (G) | FLOPs (G) + SDPA, matmul | '
        f'Train step (s) | Train pairs/s | Train peak (MB) | '
        f'Infer {s["size"]}² (ms) | Infer {s["large"]}² (s) | '
        f'Peak {s["large"]}² (MB) |',
        '|---' * 10 + '|',
    ]
    for name, row in report['rows'].items():
        result = report['models'][name]
        large = _status(result, f'infer_{s["large"]}') or _fmt(
            row['infer_large_s'])
        lines.append(
            f'| {name} | {_fmt(row["params_m"])} | '
            f'{_fmt(row["flops_g"], "{:.1f}")} | '
            f'{_fmt(row["flops_ext_g"], "{:.1f}")} | '
            f'{_fmt(row["train_s"])} | '
            f'{_fmt(row["train_pairs_per_s"], "{:.3g}")} | '
            f'{_fmt(row["train_peak_mb"], "{:.0f}")} | '
            f'{_fmt(row["infer_small_ms"], "{:.0f}")} | '
            f'{large} | '
            f'{_fmt(row["infer_large_peak_mb"], "{:.0f}")} |')
    if report['ratios']:
        lines += ['', f'Ratios to {report["settings"]["baseline"]}:', '',
                  '| Model | Params | FLOPs | Train step | '
                  f'Infer {s["size"]}² | Infer {s["large"]}² | '
                  f'Peak {s["large"]}² |', '|---' * 7 + '|']
        for name, r in report['ratios'].items():
            lines.append(
                f'| {name} | {_fmt(r["params_m"])} | {_fmt(r["flops_g"])} | '
                f'{_fmt(r["train_s"])} | {_fmt(r["infer_small_ms"])} | '
                f'{_fmt(r["infer_large_s"])} | '
                f'{_fmt(r["infer_large_peak_mb"])} |')
    lines += ['', '### FLOP counting', '',
              'Operators mmengine has no handle for (attention, FFT and '
              'product ops only; element-wise ops are never counted):', '']
    for name, result in report['models'].items():
        heavy = _get(result, 'complexity', 'uncounted_heavy')
        if heavy:
            lines.append(f'- {name}: ' + ', '.join(
                f'`{op}` x{n}' for op, n in heavy.items()))
    if report.get('reference'):
        lines += ['', reference_markdown(report['reference'], s)]
    return '\n'.join(lines) + '\n'


def reference_markdown(ref: Dict, settings: Dict) -> str:
    """The fast-vs-reference table of one FTAN model."""
    sizes = sorted({int(k.split('_')[1]) for v in ('fast', 'reference')
                    for k in ref[v] if k.startswith('infer_')})
    agree = ref['reference'].get('agreement', {})
    lines = [
        f'## Reference compute pattern vs fast ({ref["model"]}, same '
        'weights)', '',
        'Reference = `fdm_impl=\'reference\'` (per-scale full FFTs) + '
        '`fused_attention=False` (materialised N x N IAM attention) + '
        '`channels_last_tail=False, band_pixels=None` (upsampling tail whole, '
        'NCHW).', '',
        f'Logits on one {agree.get("size")}² pair: max |fast - reference| = '
        f'{_fmt(agree.get("max_abs_diff"), "{:.3g}")} (max |logit| '
        f'{_fmt(agree.get("max_abs_logit"), "{:.3g}")}, argmax agreement '
        f'{_fmt(agree.get("argmax_agreement"), "{:.6f}")}).'
        + ''.join(
            f' {kind}: max diff {_fmt(c["max_abs_diff"], "{:.3g}")} '
            f'(max |value| {_fmt(c["max_abs_value"], "{:.3g}")}, '
            f'{c["calls"]} calls).'
            for kind, c in agree.get('components', {}).items()), '',
        '| Variant | FLOPs (G) + SDPA, matmul | Train step (s) | '
        'Train peak (MB) | '
        + ' | '.join(f'Infer {n}² (s) | Peak {n}² (MB)' for n in sizes)
        + ' |', '|---' * (4 + 2 * len(sizes)) + '|'
    ]
    for variant in ('fast', 'reference'):
        r = ref[variant]
        cells = [
            variant,
            _fmt(_scale(_get(r, 'complexity', 'flops_extended'), 1e-9),
                 '{:.1f}'),
            _fmt(_get(r, 'train', 'median_s')),
            _fmt(_get(r, 'train', 'peak_mb'), '{:.0f}')
        ]
        for n in sizes:
            key = f'infer_{n}'
            cells += [
                _status(r, key) or _fmt(_get(r, key, 'median_s')),
                _fmt(_get(r, key, 'peak_mb'), '{:.0f}')
            ]
        lines.append('| ' + ' | '.join(cells) + ' |')
    inter = ref['reference'].get('interleaved')
    if inter:
        lines += ['', 'Timed in alternation in one process (fast, reference, '
                  'fast, ...; free of the drift between the separate runs '
                  'above):', '']
        for key, label in (('train', f'train step (batch {inter["batch"]}, '
                            f'{inter["size"]}²)'),
                           (f'infer_{inter["size"]}',
                            f'inference {inter["size"]}²')):
            t = inter[key]
            lines.append(
                f'- {label}: fast {t["fast"]["median_s"]:.2f} s, reference '
                f'{t["reference"]["median_s"]:.2f} s: '
                f'**{t["speedup"]:.2f}x**')
    for variant in ('fast', 'reference'):
        missed = _get(ref[variant], 'complexity', 'uncounted_heavy_extended')
        if missed:
            lines.append(f'\n{variant}: still uncounted in FLOPs: ' +
                         ', '.join(f'`{op}` x{n}' for op, n in missed.items()))
        for key, entry in ref[variant].items():
            if isinstance(entry, dict) and 'skipped' in entry:
                lines.append(f'\n{variant} {key}: skipped: {entry["skipped"]}')
            elif isinstance(entry, dict) and 'error' in entry:
                lines.append(f'\n{variant} {key}: error: {entry["error"]}')
    return '\n'.join(lines)
