"""``OUT/summary.md``: the summary of a GPU run for reading, with the
benchmark tables."""
import os.path as osp
import re
from typing import Dict, Optional

from .summary import read_text

def _fmt(value, spec='{:.3g}'):
    return '-' if value is None else spec.format(value)


def _met(met: Optional[bool]) -> str:
    return '-' if met is None else ('met' if met else 'not met')


def summary_markdown(summary: Dict, work: str) -> str:
    """Readable form of the summary, with the benchmark tables.

    Args:
        summary (dict): The summary of :func:`~.summary.summarize`.
        work (str): The run's scratch folder (its ``benchmark.md`` files).

    Returns:
        str: Markdown.
    """
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
        md = read_text(osp.join(work, step, 'benchmark.md'))
        if md:
            lines += ['', f'## {step}', '',
                      re.sub(r'^(#+) ', r'#\1 ', md, flags=re.M)]
    return '\n'.join(lines) + '\n'
