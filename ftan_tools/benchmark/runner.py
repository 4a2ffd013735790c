"""Run the speed / memory / complexity benchmark, one process per model.

Each model is measured by :mod:`.worker` in a fresh Python process, so that
the peak memory of one model is not inflated by another and a crash (e.g.
out of memory) only loses that model. The reference-pattern comparison
measures the FTAN model once more in the reference pattern
(:func:`.zoo.load_model_config`, variant ``'reference'``) on the same weights.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Sequence

from .report import machine_info, markdown_report, ratios, timing_row


def large_runs(args) -> Dict:
    """Warm-up and timed runs at ``--large``.

    On the CPU one whole-image pass at 1024^2 takes minutes, so the
    defaults are no warm-up (first-call overheads are well below a second)
    and one timed run; elsewhere the ``--warmup``/``--repeats`` values.
    """
    cpu = args.device == 'cpu'
    return dict(
        warmup=args.large_warmup if args.large_warmup is not None else
        (0 if cpu else args.warmup),
        repeats=args.large_repeats if args.large_repeats is not None else
        (1 if cpu else args.repeats))


def model_tasks(args, extra_sizes: Sequence[int] = ()) -> List[Dict]:
    """The measurements of one model, cheapest first."""
    tasks = [
        dict(task='complexity', size=args.size),
        dict(task='infer', size=args.size),
        dict(task='train', size=args.size, batch=args.batch),
    ]
    tasks += [dict(task='infer', size=s) for s in extra_sizes]
    return tasks + [dict(task='infer', size=args.large, **large_runs(args))]


def run_worker(spec: Dict, work_dir: str, tag: str) -> Dict:
    """Run :mod:`.worker` on ``spec`` in a subprocess and read its result.

    The worker's output goes to ``work_dir/logs/<tag>.log``. A worker that
    dies keeps the results written so far, plus ``exit_code``.
    """
    log_dir = osp.join(work_dir, 'logs')
    os.makedirs(log_dir, exist_ok=True)
    spec_path = osp.join(log_dir, f'{tag}.spec.json')
    result_path = osp.join(log_dir, f'{tag}.result.json')
    with open(spec_path, 'w') as f:
        json.dump(spec, f, indent=1)
    if osp.exists(result_path):
        os.remove(result_path)
    start = time.perf_counter()
    with open(osp.join(log_dir, f'{tag}.log'), 'w') as log:
        code = subprocess.call(
            [sys.executable, '-m', 'ftan_tools.benchmark.worker', spec_path,
             result_path],
            stdout=log, stderr=subprocess.STDOUT)
    result = dict(model=spec['model'], variant=spec['variant'])
    if osp.exists(result_path):
        with open(result_path) as f:
            result = json.load(f)
    result['wall_s'] = time.perf_counter() - start
    if code != 0:
        result['exit_code'] = code
    print(f'  {tag}: {result["wall_s"]:.0f} s'
          + (f', exit code {code} (see logs/{tag}.log)' if code else ''),
          flush=True)
    return result


def run_benchmark(args, command: str) -> Dict:
    """Measure every model of ``args.models`` and the reference pattern.

    Args:
        args (argparse.Namespace): Options of ``tools/benchmark.py``.
        command (str): The command line, recorded in the report.

    Returns:
        dict: The report (also written to ``args.out`` as JSON and Markdown).
    """
    os.makedirs(args.out, exist_ok=True)
    common = dict(device=args.device, amp=args.amp, seed=args.seed,
                  warmup=args.warmup, repeats=args.repeats,
                  threads=args.threads)
    compare = args.reference_model if args.reference else None
    report = dict(
        command=command,
        machine=machine_info(args.device),
        settings=dict(
            models=list(args.models), size=args.size, large=args.large,
            batch=args.batch, baseline=args.baseline,
            reference_size=args.reference_size,
            large_runs=large_runs(args), **common),
        models={})
    for i, name in enumerate(args.models, 1):
        print(f'[{i}/{len(args.models)}] {name}', flush=True)
        extra = [args.reference_size] if name == compare else []
        spec = dict(common, model=name, variant='fast',
                    tasks=model_tasks(args, extra))
        report['models'][name] = run_worker(spec, args.out, name)
    if compare:
        report['reference'] = compare_reference(args, common, report)
    report['machine']['load_avg_end'] = list(os.getloadavg())
    report['rows'] = {
        name: timing_row(result, args.size, args.large)
        for name, result in report['models'].items()
    }
    report['ratios'] = ratios(report['rows'], args.baseline)
    write_report(report, args.out)
    return report


def compare_reference(args, common: Dict, report: Dict) -> Dict:
    """Fast vs reference compute pattern of ``args.reference_model``.

    The fast numbers come from the main run when the model was measured
    there (same seed, hence the same weights), else from an extra worker.
    """
    name = args.reference_model
    tasks = model_tasks(args, [args.reference_size])
    print(f'[reference] {name}: reference pattern vs fast', flush=True)
    fast = report['models'].get(name)
    if fast is None:
        fast = run_worker(
            dict(common, model=name, variant='fast', tasks=tasks), args.out,
            f'{name}-fast')
    reference = run_worker(
        dict(common, model=name, variant='reference', tasks=tasks,
             agreement_size=args.size,
             interleave=dict(size=args.size, batch=args.batch)), args.out,
        f'{name}-reference')
    return dict(model=name, fast=fast, reference=reference)


def write_report(report: Dict, out_dir: str) -> None:
    """Write ``benchmark.json`` and ``benchmark.md`` to ``out_dir``."""
    with open(osp.join(out_dir, 'benchmark.json'), 'w') as f:
        json.dump(report, f, indent=1)
    with open(osp.join(out_dir, 'benchmark.md'), 'w') as f:
        f.write(markdown_report(report))
    print(f'wrote {osp.join(out_dir, "benchmark.json")} and benchmark.md',
          flush=True)
