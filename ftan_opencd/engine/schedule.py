"""``--iters``: change the training length and rescale the schedule with
it (parameter schedulers, validation and checkpoint intervals)."""
import math
from typing import Iterator, Tuple

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from ..errors import UserError

# mmengine's default ``end`` of a parameter scheduler: "until training ends".
SCHEDULER_END_INF = int(1e9)


def iter_schedulers(cfg: Config) -> Iterator[Tuple[str, ConfigDict]]:
    """The parameter scheduler configs with their names in the config.

    Args:
        cfg (Config): The config.

    Yields:
        tuple[str, ConfigDict]: E.g. ``('param_scheduler[1]', {...})``;
        a dict of lists (one per optimizer) gives
        ``param_scheduler.<name>[i]``.
    """
    schedulers = cfg.get('param_scheduler')
    if not schedulers:
        return
    if isinstance(schedulers, dict) and 'type' not in schedulers:
        groups = [(f'param_scheduler.{key}', value)
                  for key, value in schedulers.items()]
    else:
        groups = [('param_scheduler', schedulers)]
    for prefix, group in groups:
        if isinstance(group, dict):
            yield prefix, group
            continue
        for index, scheduler in enumerate(group):
            yield f'{prefix}[{index}]', scheduler


def _scaled(value: int, old_total: int, new_total: int) -> int:
    """``value`` rescaled from ``old_total`` to ``new_total`` steps.

    The same function maps every ``begin``, ``end`` and interval, so that
    schedulers that followed each other still do.

    Args:
        value (int): A step count or position.
        old_total (int): The old training length.
        new_total (int): The new training length.

    Returns:
        int: 0 for 0, ``new_total`` for ``old_total``, else the proportional
        value rounded half up and at least 1.
    """
    if value == old_total:
        return new_total
    if value <= 0:
        return value
    return max(1, int(math.floor(value * new_total / old_total + 0.5)))


def set_train_iters(cfg: Config, iters: int) -> None:
    """``--iters``: set ``train_cfg.max_iters`` and rescale the schedule.

    Every parameter scheduler's ``begin`` and ``end``,
    ``train_cfg.val_interval`` and an iteration-based
    ``default_hooks.checkpoint.interval`` are scaled by
    ``iters / max_iters`` (rounded, intervals at least 1; an ``end`` equal to
    the old ``max_iters`` becomes ``iters`` exactly).

    Args:
        cfg (Config): The config, modified in place.
        iters (int): The new number of training iterations.

    Raises:
        UserError: ``iters < 1``, the config trains by epochs, or a
            scheduler counts epochs (its ``begin``/``end`` are not
            iterations).
    """
    if iters < 1:
        raise UserError(f'--iters {iters}: give at least 1 iteration')
    train_cfg = cfg.get('train_cfg') or ConfigDict()
    if 'max_iters' not in train_cfg:
        raise UserError(
            '--iters: this config trains by epochs (train_cfg has no '
            'max_iters); set --cfg-options train_cfg.max_epochs=N and the '
            "param_scheduler's begin/end instead")
    old = train_cfg.max_iters
    changes = [f'train_cfg.max_iters {old} -> {iters}']
    for name, scheduler in iter_schedulers(cfg):
        changes.append(_rescale_scheduler(name, scheduler, old, iters))
    if train_cfg.get('val_interval') is not None:
        interval = train_cfg.val_interval
        train_cfg.val_interval = _scaled(interval, old, iters)
        changes.append(f'train_cfg.val_interval {interval} -> '
                       f'{train_cfg.val_interval}')
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
    if checkpoint and not checkpoint.get('by_epoch', True) and \
            checkpoint.get('interval', -1) > 0:
        interval = checkpoint.interval
        checkpoint.interval = _scaled(interval, old, iters)
        changes.append(f'default_hooks.checkpoint.interval {interval} -> '
                       f'{checkpoint.interval}')
    train_cfg.max_iters = iters
    cfg.train_cfg = train_cfg
    print_log(f'--iters {iters}: ' + '; '.join(changes), logger='current')


def _rescale_scheduler(name: str, scheduler: ConfigDict, old: int,
                       new: int) -> str:
    """Rescale one iteration-based scheduler's ``begin`` and ``end``.

    Args:
        name (str): Its name in the config, for messages.
        scheduler (ConfigDict): The scheduler config, modified in place.
        old (int): The old ``max_iters``.
        new (int): The new ``max_iters``.

    Returns:
        str: A description of the change.

    Raises:
        UserError: The scheduler counts epochs.
    """
    kind = scheduler.get('type', '?')
    if scheduler.get('by_epoch', True):
        raise UserError(
            f'--iters: {name} ({kind}) counts epochs (by_epoch=True, the '
            'mmengine default), so its begin/end cannot be rescaled to '
            'iterations; give it by_epoch=False with begin/end in iterations')
    begin = scheduler.get('begin', 0)
    end = scheduler.get('end', SCHEDULER_END_INF)
    new_begin = _scaled(begin, old, new)
    new_end = end if end >= SCHEDULER_END_INF else max(
        new_begin + 1, _scaled(end, old, new))
    scheduler.begin, scheduler.end = new_begin, new_end
    return f'{name} {kind} begin/end {begin}/{end} -> {new_begin}/{new_end}'
