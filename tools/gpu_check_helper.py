"""Helper of ``tools/gpu_check.sh`` (the offline GPU run); standard library
only at import time, so that any Python can run it before the stack exists.

    python tools/gpu_check_helper.py classify SRC DIR --python-version X.Y
        [--full] [--platform TAG ...] [--stack KEY=VALUE ...]
    python tools/gpu_check_helper.py requirements FILE ...
    python tools/gpu_check_helper.py install-specs DIR --pin mmengine==X ...
    python tools/gpu_check_helper.py check-target DIR
    python tools/gpu_check_helper.py check-imports --json FILE [--cpu]
        [--allow-missing MOD,MOD] [--mmcv-version X]
    python tools/gpu_check_helper.py geotiff DIR --size 2048
    python tools/gpu_check_helper.py predict-check OUT.tif REF.tif
    python tools/gpu_check_helper.py summary WORK OUT [--manifest DIR]

``classify`` sorts what ``pip download`` fetched for the target into the
wheel folder (``DIR``) and writes ``DIR/gpu_check_manifest.json``: what is
bundled, and what the target must already have (its torch stack, and in the
default lean mode the big packages the device image is known to carry).
``summary`` turns the step records and logs of a run into
``OUT/summary.json`` and ``OUT/summary.md``; its parsers are plain functions
(``parse_train_log``, ``parse_metrics``, ``benchmark_rows``) for the tests.
"""
import argparse
import datetime
import importlib
import importlib.metadata
import json
import os
import os.path as osp
import re
import shutil
import sys
import time
from typing import Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MANIFEST = 'gpu_check_manifest.json'

# Never bundled: the target brings its own (CUDA) torch stack, numpy and
# OpenCV; mmengine's metadata asks for opencv-python, the target has the
# headless build (mmcv's setup.py picks opencv-python-headless when present).
TARGET_STACK = ('torch', 'torchvision', 'torchaudio', 'triton', 'numpy',
                'opencv-python', 'opencv-python-headless',
                'opencv-contrib-python', 'opencv-contrib-python-headless')
TARGET_PREFIXES = ('nvidia-', 'cuda-')
# Lean mode (default): also left out, because the device image 'cuda' of the
# nvidia-h100-x1 / nvidia-h200 machines carries them (its package list of
# 2026-11-17). Together they are ~60 MiB of wheels (scipy ~34, matplotlib
# and its dependencies ~25), which would not fit beside the rest under the
# device tool's 64 MiB. `--run` checks they are installed before anything
# else and names any that is not (then: --prepare --full).
DEVICE_IMAGE_HAS = frozenset((
    'attrs', 'certifi', 'click', 'contourpy', 'cycler', 'einops',
    'filelock', 'fonttools', 'fsspec', 'jinja2', 'kiwisolver', 'markdown',
    'markdown-it-py', 'markupsafe', 'matplotlib', 'mdurl', 'packaging',
    'pillow', 'pygments', 'pyparsing', 'python-dateutil', 'pyyaml',
    'regex', 'rich', 'safetensors', 'scipy', 'six', 'tqdm',
    'typing-extensions', 'zipp'))
# Build prerequisites of mmcv's sdist: always bundled (the target's
# setuptools is usually >= 70, which cannot build mmcv 2.1).
BUILD_TOOLS = ('setuptools', 'wheel', 'ninja', 'packaging')


def normalize(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r'[-_.]+', '-', name).lower()


def parse_filename(filename: str) -> Optional[Dict[str, str]]:
    """Distribution name and version of a wheel or sdist file name."""
    if filename.endswith('.whl'):
        parts = filename[:-4].split('-')
        if len(parts) < 5:
            return None
        return dict(name=normalize(parts[0]), version=parts[1], kind='wheel')
    match = re.fullmatch(r'(.+)-([^-]+)\.(tar\.gz|zip)', filename)
    if match:
        return dict(name=normalize(match.group(1)), version=match.group(2),
                    kind='sdist')
    return None


def provided_by_target(name: str) -> bool:
    """The target's own torch stack (never bundled)."""
    return name in TARGET_STACK or name.startswith(TARGET_PREFIXES)


def read_requirement_names(paths: Sequence[str],
                           skip: Sequence[str] = ()) -> List[str]:
    """Requirement lines of requirements/*.txt files, minus options,
    comments, the target's own stack and the distributions ``skip``."""
    skip = {normalize(name) for name in skip}
    lines = []
    for path in paths:
        with open(path, encoding='utf-8') as f:
            for line in f:
                line = line.split('#')[0].strip()
                if not line or line.startswith('-'):
                    continue
                name = normalize(re.match(r'[A-Za-z0-9_.-]+', line).group(0))
                if not provided_by_target(name) and name not in skip and \
                        line not in lines:
                    lines.append(line)
    return lines


def classify(src: str, dst: str, python_version: str, full: bool,
             platforms: Sequence[str] = (),
             stack: Optional[Dict[str, str]] = None,
             skip: Sequence[str] = ()) -> Dict:
    """Move what ``pip download`` left in ``src`` into ``dst``; the
    distributions ``skip`` (not used by the run) are neither bundled nor
    required.

    Returns the manifest (also written to ``dst/gpu_check_manifest.json``).
    """
    os.makedirs(dst, exist_ok=True)
    skip = {normalize(name) for name in skip}
    bundled, expected, skipped = [], [], []
    for root, _, files in os.walk(src):
        for filename in sorted(files):
            info = parse_filename(filename)
            if info is None:
                continue
            name = info['name']
            if name in skip:
                skipped.append(dict(name=name, version=info['version']))
            elif provided_by_target(name):
                expected.append(dict(name=name, version=info['version'],
                                     why='the target\'s own torch stack'))
            elif not full and name in DEVICE_IMAGE_HAS and \
                    name not in BUILD_TOOLS:
                expected.append(dict(name=name, version=info['version'],
                                     why='on the device image (lean mode)'))
            else:
                shutil.move(osp.join(root, filename), osp.join(dst, filename))
                bundled.append(dict(info, file=filename))
    names = [b['name'] for b in bundled]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SystemExit(f'error: two versions of {twice} in {dst}')
    manifest = dict(
        created=datetime.datetime.now().isoformat(timespec='seconds'),
        python_version=python_version, platforms=list(platforms),
        mode='full' if full else 'lean', stack=stack or {},
        bundled=sorted(bundled, key=lambda b: b['name']),
        expected=sorted(expected, key=lambda e: e['name']),
        skipped=sorted(skipped, key=lambda e: e['name']))
    with open(osp.join(dst, MANIFEST), 'w') as f:
        json.dump(manifest, f, indent=1)
    return manifest


def load_manifest(folder: str) -> Dict:
    path = osp.join(folder, MANIFEST)
    if not osp.isfile(path):
        raise SystemExit(f'error: {path} not found: fill {folder} first with '
                         'bash tools/gpu_check.sh --prepare ' + folder)
    with open(path) as f:
        return json.load(f)


def install_specs(manifest: Dict, pins: Sequence[str]) -> List[str]:
    """What ``pip install --no-deps`` installs from the wheel folder: the
    pinned requirement of a pinned distribution, else its bare name (kept
    when the target already has it); the sdists (mmcv) are left out."""
    pinned = {
        normalize(re.match(r'[A-Za-z0-9_.-]+', p).group(0)): p
        for p in pins
    }
    specs = []
    for entry in manifest['bundled']:
        if entry['kind'] != 'wheel':
            continue
        specs.append(pinned.get(entry['name'], entry['name']))
    return specs


# mmengine asks for opencv-python; any OpenCV build provides cv2
OPENCV = ('opencv-python', 'opencv-python-headless', 'opencv-contrib-python',
          'opencv-contrib-python-headless')
SATISFIED_BY = {name: OPENCV for name in OPENCV}


def installed(name: str) -> bool:
    """Whether distribution ``name`` is installed in this Python."""
    try:
        importlib.metadata.version(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def check_target(manifest: Dict) -> List[str]:
    """Problems of the running Python as the target of ``manifest``."""
    problems = []
    here = '.'.join(map(str, sys.version_info[:2]))
    if here != manifest['python_version']:
        problems.append(
            f'the wheel folder was prepared for Python '
            f'{manifest["python_version"]}, this is Python {here}: '
            f'bash tools/gpu_check.sh --prepare DIR --python-version {here}')
    missing = []
    for entry in manifest['expected']:
        if not any(installed(name) for name in
                   SATISFIED_BY.get(entry['name'], (entry['name'], ))):
            missing.append(f'{entry["name"]} ({entry["why"]})')
    if missing:
        problems.append(
            'not installed here and not in the wheel folder: '
            + ', '.join(missing) + '. For torch/torchvision/numpy/OpenCV '
            'install them first; for the others prepare with --full')
    return problems


# (label, module, required for the run)
IMPORT_CHECKS = [
    ('numpy', 'numpy'), ('cv2', 'cv2'), ('torchvision', 'torchvision'),
    ('mmengine', 'mmengine'), ('mmcv', 'mmcv'), ('mmcv.ops', 'mmcv.ops'),
    ('mmseg', 'mmseg'), ('mmdet', 'mmdet'), ('mmpretrain', 'mmpretrain'),
    ('opencd', 'opencd'), ('opencd.models', 'opencd.models'),
    ('ftan_opencd', 'ftan_opencd'), ('rasterio', 'rasterio'),
    ('safetensors', 'safetensors'),
]


def check_imports(cpu: bool, allow_missing: Sequence[str],
                  mmcv_version: Optional[str]) -> Dict:
    """Import the stack module by module; one record per check."""
    records = []

    def record(label, ok, detail, allowed=False):
        records.append(dict(check=label, ok=ok, detail=detail,
                            allowed=bool(allowed and not ok)))
        mark = 'ok  ' if ok else ('SKIP' if allowed else 'FAIL')
        print(f'[imports] {mark} {label}: {detail}', flush=True)

    info = dict(python=sys.version.split()[0], executable=sys.executable)
    try:
        import torch
        info.update(torch=torch.__version__, cuda=torch.version.cuda)
        record('torch', True, torch.__version__)
        if cpu:
            record('cuda', True, 'not required (--cpu-smoke)')
        elif torch.cuda.is_available():
            info.update(gpu=torch.cuda.get_device_name(0),
                        bf16=torch.cuda.is_bf16_supported())
            x = torch.randn(64, 64, device='cuda')
            torch.cuda.synchronize()
            record('cuda', True, f'{info["gpu"]}, {float((x @ x).sum()):.1f}')
        else:
            record('cuda', False, 'torch.cuda.is_available() is False')
    except Exception as exc:  # noqa: BLE001 - report every failure
        record('torch', False, f'{type(exc).__name__}: {exc}')
    for label, module in IMPORT_CHECKS:
        try:
            mod = importlib.import_module(module)
            detail = str(getattr(mod, '__version__', 'imported'))
            if label == 'mmcv' and mmcv_version and \
                    detail.split('+')[0] != mmcv_version:
                record(label, False, f'{detail}, not {mmcv_version}')
                continue
            if label == 'torchvision':
                import torch
                from torchvision.ops import nms
                nms(torch.rand(4, 4), torch.rand(4), 0.5)
                detail += ', nms op runs'
            if label == 'mmcv.ops':
                import torch
                from mmcv.ops import nms as mmcv_nms
                mmcv_nms(torch.tensor([[0., 0, 2, 2], [0, 0, 2, 2.1]]),
                         torch.tensor([0.9, 0.8]), 0.5)
                detail = 'compiled ops load (nms on CPU)'
            record(label, True, detail)
        except Exception as exc:  # noqa: BLE001
            record(label, False, f'{type(exc).__name__}: {exc}',
                   allowed=label in allow_missing)
    failed = [r['check'] for r in records if not r['ok'] and not r['allowed']]
    return dict(info=info, checks=records, failed=failed, ok=not failed)


def write_geotiff_pair(folder: str, size: int) -> List[str]:
    """The synthetic GeoTIFF pair of tools/benchmark_predict_large.py."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from benchmark_predict_large import write_scene
    os.makedirs(folder, exist_ok=True)
    paths = [osp.join(folder, f't{i}.tif') for i in (1, 2)]
    for path, changed in zip(paths, (False, True)):
        write_scene(path, size, changed=changed)
    return paths


def predict_check(out: str, reference: str) -> Dict:
    """Size, georeferencing and changed fraction of a predicted GeoTIFF."""
    import numpy as np
    import rasterio
    with rasterio.open(out) as mask, rasterio.open(reference) as ref:
        data = mask.read(1)
        return dict(
            shape=list(data.shape), dtype=str(data.dtype),
            georeferenced=bool(mask.crs == ref.crs
                               and mask.transform == ref.transform
                               and mask.shape == ref.shape),
            changed_fraction=float(np.mean(data == 1)))


# ---------------------------------------------------------------- summary
TRAIN_LINE = re.compile(
    r'Iter\(train\)\s*\[\s*(\d+)\s*/\s*(\d+)\].*?\sloss:\s*([-+\w.]+)')
METRIC_LINE = re.compile(r'Iter\((val|test)\)\s*\[\s*(\d+)\s*/\s*(\d+)\]'
                         r'\s+(\w+:\s*[-\d.]+.*)$')
METRIC = re.compile(r'(\w+):\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)')


def _number(text: str) -> Optional[float]:
    """A finite float, else None (nan/inf losses; JSON has no NaN)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float('inf') else None


def parse_metrics(text: str, mode: str) -> Optional[Dict[str, float]]:
    """The last metrics line of ``mode`` ('val' or 'test') of an mmengine
    log: ``Iter(test) [8/8]  precision: .. F1: .. IoU: ..`` (timing fields
    dropped)."""
    found = None
    for line in text.splitlines():
        match = METRIC_LINE.search(line)
        if match and match.group(1) == mode:
            values = {k: float(v) for k, v in METRIC.findall(match.group(4))
                      if k not in ('eta', 'time', 'data_time')}
            if values:
                found = values
    return found


def parse_train_log(text: str) -> Dict:
    """Losses of an mmengine training log and the validation at its end."""
    iters, losses, max_iters = [], [], None
    for line in text.splitlines():
        match = TRAIN_LINE.search(line)
        if match:
            iters.append(int(match.group(1)))
            max_iters = int(match.group(2))
            losses.append(_number(match.group(3)))
    result = dict(logged_iters=iters, losses=losses, max_iters=max_iters,
                  last_iter=iters[-1] if iters else None)
    result['nonfinite_losses'] = sum(x is None for x in losses)
    if losses:
        result.update(first_loss=losses[0], final_loss=losses[-1])
    if len(losses) >= 2 and None not in (losses[0], losses[-1]):
        result['loss_ratio'] = losses[-1] / losses[0] if losses[0] else None
        result['loss_fell'] = losses[-1] < losses[0]
    result['val'] = parse_metrics(text, 'val')
    return result


def read_steps(path: str) -> List[Dict]:
    """Records of ``run_step``: name, status, rc, seconds, timeout, note."""
    steps = []
    if not osp.isfile(path):
        return steps
    with open(path) as f:
        for line in f:
            parts = line.rstrip('\n').split('\t')
            if len(parts) < 5:
                continue
            steps.append(dict(name=parts[0], status=parts[1],
                              rc=int(parts[2]), seconds=float(parts[3]),
                              timeout_s=int(parts[4]),
                              note=parts[5] if len(parts) > 5 else ''))
    return steps


def benchmark_rows(report: Dict) -> Dict:
    """The headline numbers of a tools/benchmark.py report."""
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
    median time and peak memory (``logs/<tag>.result.json``)."""
    results = {}
    if not osp.isdir(log_dir):
        return results
    for filename in sorted(os.listdir(log_dir)):
        if not filename.endswith('.result.json'):
            continue
        result = _load_json(osp.join(log_dir, filename)) or {}
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
    """Every row's numbers divided by the baseline's (None if missing)."""
    base = rows.get(baseline)
    if not base:
        return {}
    return {name: {k: (v / base[k] if isinstance(v, (int, float))
                       and base.get(k) else None) for k, v in row.items()}
            for name, row in rows.items()}


def gpu_goals(row: Optional[Dict], reference: Optional[Dict]) -> Dict:
    """FTAN-B against the GPU goals of the README's Benchmarks section:
    at least 150 training pairs/s in bf16, 1024^2 inference in at most
    60 ms and 5 GiB, at least 2x the reference compute pattern."""
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


def _read(path: str) -> str:
    if not osp.isfile(path):
        return ''
    with open(path, errors='replace') as f:
        return f.read()


def _load_json(path: str) -> Optional[Dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def summarize(work: str, settings: Optional[Dict] = None) -> Dict:
    """The run's summary from ``work`` (steps.tsv, logs/, benchmark dirs)."""
    logs = osp.join(work, 'logs')
    steps = read_steps(osp.join(work, 'steps.tsv'))
    summary = dict(settings=settings or {}, steps=steps,
                   total_s=round(sum(s['seconds'] for s in steps), 1))
    imports = _load_json(osp.join(work, 'imports.json'))
    if imports:
        summary['environment'] = imports.get('info')
        summary['imports_failed'] = imports.get('failed')
    names = {s['name'] for s in steps}
    if 'train' in names:
        train = parse_train_log(_read(osp.join(logs, 'train.log')))
        last = _read(osp.join(work, 'train', 'last_checkpoint')).strip()
        train['checkpoint'] = last or None
        train['checkpoint_written'] = bool(last and osp.isfile(last))
        if train['checkpoint_written']:
            train['checkpoint_mb'] = round(osp.getsize(last) / 2**20, 1)
        summary['train'] = train
    if 'test' in names:
        summary['test'] = parse_metrics(_read(osp.join(logs, 'test.log')),
                                        'test')
    if 'predict' in names:
        check = re.findall(r'^PREDICT_CHECK (.*)$',
                           _read(osp.join(logs, 'predict.log')), re.M)
        summary['predict'] = json.loads(check[-1]) if check else None
    bench, partial = {}, {}
    for step in sorted(names):
        if not step.startswith('bench'):
            continue
        report = _load_json(osp.join(work, step, 'benchmark.json'))
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


def _fmt(value, spec='{:.3g}'):
    return '-' if value is None else spec.format(value)


def _met(met: Optional[bool]) -> str:
    return '-' if met is None else ('met' if met else 'not met')


def summary_markdown(summary: Dict, work: str) -> str:
    """Readable form of the summary, with the benchmark tables."""
    lines = ['# tools/gpu_check.sh summary', '']
    env = summary.get('environment') or {}
    if env:
        lines += ['Environment: '
                  + ', '.join(f'{k} {v}' for k, v in env.items()), '']
    lines += ['| step | status | seconds | timeout (s) | note |',
              '|---|---|---|---|---|']
    for s in summary['steps']:
        lines.append(f'| {s["name"]} | {s["status"]} | {s["seconds"]:.0f} | '
                     f'{s["timeout_s"]} | {s["note"]} |')
    if summary.get('checks'):
        lines += ['', 'Checks: ' + ', '.join(
            f'{k} {"yes" if v else "NO"}' for k, v in
            summary['checks'].items()) + f'; overall ok: {summary["ok"]}']
    train = summary.get('train')
    if train:
        lines += ['', f'Train: loss {_fmt(train.get("first_loss"))} (iter '
                  f'{(train["logged_iters"] or ["-"])[0]}) -> '
                  f'{_fmt(train.get("final_loss"))} (iter '
                  f'{train.get("last_iter")}), fell: '
                  f'{train.get("loss_fell")}; checkpoint written: '
                  f'{train.get("checkpoint_written")}; validation: '
                  f'{train.get("val")}']
    if 'test' in summary:
        lines += ['', f'Test: {summary["test"]}']
    if 'predict' in summary:
        lines += ['', f'Predict: {summary["predict"]}']
    goals = summary.get('goals')
    if goals:
        lines += ['', 'FTAN-B vs the GPU goals: ' + '; '.join(
            f'{k} {_fmt(g["value"])} (goal {g["target"]}: '
            f'{_met(g["met"])})' for k, g in goals.items())]
    for step, workers in (summary.get('benchmark_partial') or {}).items():
        lines += ['', f'{step} stopped before its report; measured: '
                  + ', '.join(f'{name} ({", ".join(sorted(row))})'
                              for name, row in workers.items())]
    for step in sorted(summary.get('benchmark', {})):
        md = _read(osp.join(work, step, 'benchmark.md'))
        if md:
            lines += ['', f'## {step}', '',
                      re.sub(r'^(#+) ', r'#\1 ', md, flags=re.M)]
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------- commands
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('classify')
    p.add_argument('src')
    p.add_argument('dst')
    p.add_argument('--python-version', required=True)
    p.add_argument('--full', action='store_true')
    p.add_argument('--platform', action='append', default=[])
    p.add_argument('--stack', action='append', default=[],
                   metavar='KEY=VALUE')
    p.add_argument('--skip', default='', help='comma-separated names')
    p = sub.add_parser('requirements')
    p.add_argument('files', nargs='+')
    p.add_argument('--skip', default='', help='comma-separated names')
    p = sub.add_parser('install-specs')
    p.add_argument('dir')
    p.add_argument('--pin', action='append', default=[])
    p = sub.add_parser('check-target')
    p.add_argument('dir')
    p = sub.add_parser('check-imports')
    p.add_argument('--json', required=True)
    p.add_argument('--cpu', action='store_true')
    p.add_argument('--allow-missing', default='')
    p.add_argument('--mmcv-version', default=None)
    p = sub.add_parser('geotiff')
    p.add_argument('dir')
    p.add_argument('--size', type=int, required=True)
    p = sub.add_parser('predict-check')
    p.add_argument('out')
    p.add_argument('reference')
    p = sub.add_parser('summary')
    p.add_argument('work')
    p.add_argument('out')
    p.add_argument('--setting', action='append', default=[],
                   metavar='KEY=VALUE')
    args = parser.parse_args(argv)

    if args.command == 'classify':
        stack = dict(s.split('=', 1) for s in args.stack)
        manifest = classify(args.src, args.dst, args.python_version,
                            args.full, args.platform, stack,
                            [n for n in args.skip.split(',') if n])
        for entry in manifest['skipped']:
            print(f'  skipped: {entry["name"]} {entry["version"]} (--skip)')
        for entry in manifest['expected']:
            print(f'  left out: {entry["name"]} {entry["version"]} '
                  f'({entry["why"]})')
        print(f'  bundled: {len(manifest["bundled"])} files')
    elif args.command == 'requirements':
        print('\n'.join(read_requirement_names(
            args.files, [n for n in args.skip.split(',') if n])))
    elif args.command == 'install-specs':
        print('\n'.join(install_specs(load_manifest(args.dir), args.pin)))
    elif args.command == 'check-target':
        problems = check_target(load_manifest(args.dir))
        for problem in problems:
            print(f'error: {problem}', file=sys.stderr)
        return 1 if problems else 0
    elif args.command == 'check-imports':
        allow = [m for m in args.allow_missing.split(',') if m]
        result = check_imports(args.cpu, allow, args.mmcv_version)
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
        if not result['ok']:
            print(f'[imports] failed: {", ".join(result["failed"])}',
                  file=sys.stderr)
        return 0 if result['ok'] else 1
    elif args.command == 'geotiff':
        start = time.perf_counter()
        paths = write_geotiff_pair(args.dir, args.size)
        print(f'wrote {paths} ({args.size}x{args.size}) in '
              f'{time.perf_counter() - start:.1f} s')
    elif args.command == 'predict-check':
        print('PREDICT_CHECK ' + json.dumps(predict_check(args.out,
                                                          args.reference)))
    elif args.command == 'summary':
        settings = dict(s.split('=', 1) for s in args.setting)
        summary = summarize(args.work, settings)
        os.makedirs(args.out, exist_ok=True)
        with open(osp.join(args.out, 'summary.json'), 'w') as f:
            json.dump(summary, f, indent=1)
        with open(osp.join(args.out, 'summary.md'), 'w') as f:
            f.write(summary_markdown(summary, args.work))
        print(summary_markdown(summary, args.work).split('\n## ')[0])
    return 0


if __name__ == '__main__':
    sys.exit(main())
