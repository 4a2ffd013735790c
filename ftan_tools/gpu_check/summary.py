"""The summary of a GPU run (``OUT/summary.json``): step records, training,
test and predict results, benchmark rows and the GPU goals, and the checks
that a step's exit status does not make."""
import json
import os
import os.path as osp
import re
from typing import Dict, Optional

from .logs import parse_metrics, parse_train_log, read_steps

def benchmark_rows(report: Dict) -> Dict:
    """The headline numbers of a tools/benchmark.py report.

    Args:
        report (dict): Its ``benchmark.json``.

    Returns:
        dict: ``rows``, ``settings``, ``gpu`` and, with a reference
        comparison, the fast-vs-reference speed-ups.
    """
    out = dict(rows=report.get('rows', {}), settings=report.get('settings'),
               gpu=(report.get('machine') or {}).get('gpu'))
    ref = report.get('reference')
    if ref:
        def median(variant, key):
            entry = ref.get(variant, {}).get(key) or {}
            return entry.get('median_s')
        keys = sorted(k for k in ref.get('fast', {}) if k.startswith('infer_')
                      or k == 'train')
        out['reference'] = dict(
            model=ref.get('model'),
            agreement=ref.get('reference', {}).get('agreement'),
            speedup={k: (median('reference', k) / median('fast', k)
                         if median('fast', k) and median('reference', k)
                         else None) for k in keys},
            interleaved={k: v.get('speedup') for k, v in
                         (ref.get('reference', {}).get('interleaved') or {})
                         .items() if isinstance(v, dict)})
    return out


def worker_results(log_dir: str) -> Dict[str, Dict]:
    """Per worker of an unfinished benchmark run: each measurement's
    median time and peak memory (``logs/<tag>.result.json``).

    Args:
        log_dir (str): The benchmark's ``logs/`` folder.

    Returns:
        dict[str, dict]: ``{worker tag: {measurement: numbers}}``.
    """
    results = {}
    if not osp.isdir(log_dir):
        return results
    for filename in sorted(os.listdir(log_dir)):
        if not filename.endswith('.result.json'):
            continue
        result = load_json(osp.join(log_dir, filename)) or {}
        row = {}
        for key, entry in result.items():
            if key == 'complexity' and isinstance(entry, dict):
                row['params'] = entry.get('params')
                row['flops'] = entry.get('flops')
            elif isinstance(entry, dict) and (key == 'train'
                                              or key.startswith('infer_')):
                row[key] = {k: entry.get(k) for k in
                            ('median_s', 'peak_mb', 'batch', 'skipped',
                             'error') if entry.get(k) is not None}
        results[filename[:-len('.result.json')]] = row
    return results


def ratios_to(rows: Dict[str, Dict], baseline: str) -> Dict[str, Dict]:
    """Every row's numbers divided by the baseline's (None if missing).

    Args:
        rows (dict[str, dict]): Benchmark rows by model.
        baseline (str): The model to divide by.

    Returns:
        dict[str, dict]: The ratios; empty without the baseline's row.
    """
    base = rows.get(baseline)
    if not base:
        return {}
    return {name: {k: (v / base[k] if isinstance(v, (int, float))
                       and base.get(k) else None) for k, v in row.items()}
            for name, row in rows.items()}


def gpu_goals(row: Optional[Dict], reference: Optional[Dict]) -> Dict:
    """FTAN-B against the GPU goals of the README's Benchmarks section:
    at least 150 training pairs/s in bf16, 1024^2 inference in at most
    60 ms and 5 GiB, at least 2x the reference compute pattern.

    Args:
        row (dict, optional): FTAN-B's benchmark row.
        reference (dict, optional): The reference comparison of
            :func:`benchmark_rows`.

    Returns:
        dict: Per goal its ``value``, ``target`` and ``met`` (None when not
        measured).
    """
    row = row or {}
    large_s = row.get('infer_large_s')
    peak = row.get('infer_large_peak_mb')
    speedup = ((reference or {}).get('speedup') or {})

    def goal(value, target, ok):
        return dict(value=value, target=target,
                    met=None if value is None else bool(ok(value)))
    return dict(
        train_pairs_per_s=goal(row.get('train_pairs_per_s'), '>= 150',
                               lambda v: v >= 150),
        infer_large_ms=goal(None if large_s is None else large_s * 1e3,
                            '<= 60', lambda v: v <= 60),
        infer_large_peak_mb=goal(peak, '<= 5120', lambda v: v <= 5120),
        reference_speedup_train=goal(speedup.get('train'), '>= 2',
                                     lambda v: v >= 2))


def read_text(path: str) -> str:
    """The text of ``path``; empty if it does not exist.

    Args:
        path (str): A log or report file.

    Returns:
        str: Its text (undecodable bytes replaced).
    """
    if not osp.isfile(path):
        return ''
    with open(path, errors='replace') as f:
        return f.read()


def load_json(path: str) -> Optional[Dict]:
    """The JSON of ``path``, or None if it is missing or invalid.

    Args:
        path (str): A JSON file.

    Returns:
        dict | None: Its content.
    """
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def summarize(work: str, settings: Optional[Dict] = None) -> Dict:
    """The run's summary from ``work`` (steps.tsv, logs/, benchmark dirs).

    Args:
        work (str): The run's scratch folder.
        settings (dict, optional): The run's settings, kept as they are.

    Returns:
        dict: What ``summary.json`` holds; ``ok`` only when every step
        passed and every check of :func:`summarize` (loss fell, checkpoint
        written, test metrics logged, output georeferenced) holds.
    """
    logs = osp.join(work, 'logs')
    steps = read_steps(osp.join(work, 'steps.tsv'))
    summary = dict(settings=settings or {}, steps=steps,
                   total_s=round(sum(s['seconds'] for s in steps), 1))
    imports = load_json(osp.join(work, 'imports.json'))
    if imports:
        summary['environment'] = imports.get('info')
        summary['imports_failed'] = imports.get('failed')
    names = {s['name'] for s in steps}
    if 'train' in names:
        train = parse_train_log(read_text(osp.join(logs, 'train.log')))
        last = read_text(osp.join(work, 'train', 'last_checkpoint')).strip()
        train['checkpoint'] = last or None
        train['checkpoint_written'] = bool(last and osp.isfile(last))
        if train['checkpoint_written']:
            train['checkpoint_mb'] = round(osp.getsize(last) / 2**20, 1)
        summary['train'] = train
    if 'test' in names:
        summary['test'] = parse_metrics(read_text(osp.join(logs, 'test.log')),
                                        'test')
    if 'predict' in names:
        check = re.findall(r'^PREDICT_CHECK (.*)$',
                           read_text(osp.join(logs, 'predict.log')), re.M)
        summary['predict'] = json.loads(check[-1]) if check else None
    bench, partial = {}, {}
    for step in sorted(names):
        if not step.startswith('bench'):
            continue
        report = load_json(osp.join(work, step, 'benchmark.json'))
        if report:
            bench[step] = benchmark_rows(report)
        else:  # stopped before its report: what its workers wrote
            partial[step] = worker_results(osp.join(work, step, 'logs'))
    if any(partial.values()):
        summary['benchmark_partial'] = partial
    if bench:
        summary['benchmark'] = bench
        rows = {}
        for part in bench.values():
            rows.update(part['rows'])
        summary['benchmark_rows'] = rows
        summary['benchmark_ratios_to_ftan_b'] = ratios_to(rows, 'ftan-b')
        ftan = bench.get('bench_ftan') or {}
        settings = ftan.get('settings') or {}
        if str(settings.get('device', '')).startswith('cuda') and \
                settings.get('size') == 256 and settings.get('large') == 1024:
            summary['goals'] = gpu_goals(rows.get('ftan-b'),
                                         ftan.get('reference'))
    summary['failed_steps'] = [s['name'] for s in steps
                               if s['status'] != 'ok']
    # what a step's exit status does not say
    checks = {}
    if 'train' in summary:
        checks['train_loss_fell'] = summary['train'].get('loss_fell') is True
        checks['train_checkpoint_written'] = \
            summary['train']['checkpoint_written']
    if 'test' in names:
        checks['test_metrics_logged'] = bool(summary.get('test'))
    if 'predict' in names:
        checks['predict_output_georeferenced'] = bool(
            (summary.get('predict') or {}).get('georeferenced'))
    summary['checks'] = checks
    summary['ok'] = bool(steps) and not summary['failed_steps'] and \
        all(checks.values())
    return summary
