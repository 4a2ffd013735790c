"""The check that the parameter schedulers end when training does."""
import logging
from typing import Dict, List, Tuple

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from .schedule import SCHEDULER_END_INF, iter_schedulers

ITERS_HINT = ('set the training length with tools/train.py --iters N, which '
              'rescales param_scheduler, train_cfg.val_interval and '
              'default_hooks.checkpoint.interval, instead of --cfg-options '
              'train_cfg.max_iters=N')


def _scheduled_param(scheduler: ConfigDict) -> str:
    """The optimizer parameter a scheduler changes (for messages).

    Args:
        scheduler (ConfigDict): A scheduler config.

    Returns:
        str: ``param_name``, else ``momentum`` or ``learning rate`` from the
        type name.
    """
    if scheduler.get('param_name'):
        return scheduler.param_name
    return ('momentum' if 'Momentum' in scheduler.get('type', '')
            else 'learning rate')


def check_schedule(cfg: Config) -> List[str]:
    """Warn when the schedulers end before or after training does.

    For each scheduled parameter (learning rate, momentum, ...), the
    scheduler that ends last should end at ``train_cfg.max_iters`` (or
    ``max_epochs`` for epoch-based schedulers): ending before leaves the
    value frozen (0 after a decay to ``eta_min=0``) for the rest of training,
    ending after cuts the schedule short. Schedulers whose unit differs from
    the training loop's are not checked.

    Args:
        cfg (Config): The final config (all options applied).

    Returns:
        list[str]: The warnings, each also logged at WARNING.
    """
    train_cfg = cfg.get('train_cfg') or {}
    latest: Dict[str, Tuple[int, str, ConfigDict]] = {}
    warnings = []
    for name, scheduler in iter_schedulers(cfg):
        by_epoch = scheduler.get('by_epoch', True)
        length_key = 'max_epochs' if by_epoch else 'max_iters'
        length = train_cfg.get(length_key)
        if length is None:
            continue
        end = scheduler.get('end', SCHEDULER_END_INF)
        if length < end < SCHEDULER_END_INF:
            warnings.append(_schedule_warning(
                name, scheduler, end, length_key, length,
                f'training stops {end - length} steps before the schedule '
                'is complete (the decay is cut short)'))
        param = _scheduled_param(scheduler)
        if param not in latest or end > latest[param][0]:
            latest[param] = (end, name, scheduler)
    for param, (end, name, scheduler) in latest.items():
        length_key = ('max_epochs' if scheduler.get('by_epoch', True)
                      else 'max_iters')
        length = train_cfg[length_key]
        if end < length:
            warnings.append(_schedule_warning(
                name, scheduler, end, length_key, length,
                f'the {param} stays at its final value (0 after a decay to '
                f'eta_min=0) for the last {length - end} steps'))
    for message in warnings:
        print_log(message, logger='current', level=logging.WARNING)
    return warnings


def _schedule_warning(name: str, scheduler: ConfigDict, end: int,
                      length_key: str, length: int, effect: str) -> str:
    """The message of :func:`check_schedule` for one scheduler.

    Args:
        name (str): The scheduler's name in the config.
        scheduler (ConfigDict): The scheduler config.
        end (int): Its ``end``.
        length_key (str): ``max_iters`` or ``max_epochs``.
        length (int): The training length.
        effect (str): What goes wrong.

    Returns:
        str: The warning.
    """
    unit = 'iteration' if length_key == 'max_iters' else 'epoch'
    relation = 'before' if end < length else 'after'
    hint = ITERS_HINT if length_key == 'max_iters' else (
        'rescale its begin/end together with train_cfg.max_epochs')
    return (f'{name} ({scheduler.get("type", "?")}) ends at {unit} {end}, '
            f'{relation} train_cfg.{length_key}={length}: {effect}. '
            f'If that is not intended, {hint}.')
