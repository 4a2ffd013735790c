"""Parsers of what a GPU run leaves: mmengine training and test logs, and
the step records (``steps.tsv``) of ``run_step``."""
import os.path as osp
import re
from typing import Dict, List, Optional

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
    dropped).

    Args:
        text (str): The log.
        mode (str): ``'val'`` or ``'test'``.

    Returns:
        dict[str, float] | None: The metrics, or None if none is logged.
    """
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
    """Losses of an mmengine training log and the validation at its end.

    Args:
        text (str): The log.

    Returns:
        dict: ``logged_iters``, ``losses`` (None for non-finite ones),
        ``max_iters``, ``last_iter``, ``nonfinite_losses``, first and final
        loss, whether it fell, and ``val`` (:func:`parse_metrics`).
    """
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
    """Records of ``run_step``: name, status, rc, seconds, timeout, note.

    Args:
        path (str): ``steps.tsv`` of the run (missing: no records).

    Returns:
        list[dict]: One record per step, in run order.
    """
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
