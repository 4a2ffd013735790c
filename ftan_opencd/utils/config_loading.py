"""Options and config loading shared by ``tools/train.py`` and
``tools/test.py``: the common options, the check that a config can run
(not a model-only file), ``--data-root`` (one data folder for every split),
``--iters`` (training length with the schedule rescaled), the check that the
schedule ends with training, and image verification of the val/test sets.
User mistakes raise :class:`~.user_errors.UserError` (a ``ValueError``)."""
import argparse
import logging
import math
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Tuple

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log

from .user_errors import UserError, check_config_path

DATA_SPLITS = ('train', 'val', 'test')
# Top-level config variables that name data folders. The dataloaders copied
# their values when the file was parsed; a data root override updates them
# too, so that the config dumped into the work dir tells the truth.
ROOT_VARIABLES = ('data_root', 'tile_root')
# Top-level variables that --cfg-options cannot change (OpenMMLab resolves
# them when the config file is parsed), with what to use instead.
BAKED_VARIABLES = {
    'tile_root': '--data-root DIR (train, val and test) or '
    'train_dataloader.dataset.data_root=DIR',
    'max_iters': 'tools/train.py --iters N (it rescales the schedule too)',
    'val_interval': 'tools/train.py --iters N, or train_cfg.val_interval=N '
    'and default_hooks.checkpoint.interval=N',
}
# mmengine's default ``end`` of a parameter scheduler: "until training ends".
SCHEDULER_END_INF = int(1e9)
# What each tool needs besides the model, by the loop it runs.
RUNNABLE_KEYS = {
    'train': ('default_scope', 'train_dataloader', 'train_cfg',
              'optim_wrapper'),
    'test': ('default_scope', 'test_dataloader', 'test_evaluator',
             'test_cfg'),
}
DATALOADERS = tuple(f'{split}_dataloader' for split in DATA_SPLITS)
EXAMPLE_CONFIG = 'configs/demo/ftan-tiny_128x128_demo-cd_cpu.py'
ITERS_HINT = ('set the training length with tools/train.py --iters N, which '
              'rescales param_scheduler, train_cfg.val_interval and '
              'default_hooks.checkpoint.interval, instead of --cfg-options '
              'train_cfg.max_iters=N')


def load_config(path: str,
                launcher: str = 'none',
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                data_root: Optional[str] = None,
                purpose: Optional[str] = None) -> Config:
    """Load ``path`` and apply the options every tool accepts.

    A top-level ``data_root`` in ``cfg_options`` is the same as
    ``data_root``: OpenMMLab copies the config variable into the dataloaders
    when the file is parsed, so merging it would silently change nothing.
    The data root is applied before the other ``cfg_options``, so that e.g.
    ``train_dataloader.dataset.data_root=...`` can still point one split
    elsewhere.

    Args:
        path (str): Config file.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        work_dir (str, optional): Output folder; defaults to the config's
            ``work_dir`` or ``./work_dirs/<config name>`` as in open-cd.
        data_root (str, optional): ``--data-root``: one folder in LEVIR-CD
            layout for the train, val and test dataloaders (see
            :func:`set_data_root`).
        purpose (str, optional): ``'train'`` or ``'test'``: check that the
            config defines what that tool runs (:func:`check_runnable`).

    Returns:
        Config: The config, ready for ``Runner.from_cfg``.

    Raises:
        FileNotFoundError: The config file or the data root does not exist.
        UserError: ``path`` is not a config file (e.g. a checkpoint), the
            config cannot run for ``purpose``, ``cfg_options`` sets a
            top-level variable that would have no effect, or a
            ``data_root`` that contradicts ``data_root``.
    """
    check_config_path(path)
    cfg = Config.fromfile(path)
    if purpose is not None:
        check_runnable(cfg, path, purpose)
    cfg.launcher = launcher
    options = dict(cfg_options or {})
    root, option = _pop_data_root(options, data_root)
    check_baked_variables(options)
    if root is not None:
        set_data_root(cfg, root, option)
    if options:
        cfg.merge_from_dict(options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


def model_only_hint(path: str) -> str:
    """What to use instead of the config ``path`` that cannot run.

    Args:
        path (str): The config file.

    Returns:
        str: ``use <folder>/learn/<name>`` when that runnable config exists
        (the benchmark's model-only files have one), else how to compose a
        complete config.
    """
    runnable = osp.join(osp.dirname(path), 'learn', osp.basename(path))
    if osp.isfile(runnable):
        return f'use {runnable}'
    return ('compose a complete config with _base_ = [a model, a data set '
            '(configs/_base_/datasets/), a schedule, '
            "configs/_base_/default_runtime.py (default_scope='opencd')], "
            f'like {EXAMPLE_CONFIG}')


def check_runnable(cfg: Config, path: str, purpose: str) -> None:
    """Refuse a config that lacks what ``tools/<purpose>.py`` runs.

    Without this, a model-only file (e.g. ``configs/benchmark/bit-r18.py``,
    which only ``tools/benchmark.py`` reads) fails deep in mmengine with
    ``KeyError: 'SiamEncoderDecoder is not in the mmengine::model
    registry'`` (no ``default_scope``) or a missing dataloader.

    Args:
        cfg (Config): The loaded config.
        path (str): Its file, for the message.
        purpose (str): ``'train'`` or ``'test'`` (:data:`RUNNABLE_KEYS`).

    Raises:
        UserError: Naming the missing keys and what to use instead.
    """
    missing = [key for key in RUNNABLE_KEYS[purpose]
               if cfg.get(key) is None]
    if 'model' not in cfg:
        missing.insert(0, 'model')
    if not missing:
        return
    model_only = 'model' in cfg and not any(
        cfg.get(key) for key in DATALOADERS)
    what = ('it is a model-only file (a model for tools/benchmark.py, '
            'without data, schedule or runtime)' if model_only else
            f'tools/{purpose}.py needs them')
    raise UserError(f'{path} defines no {"/".join(missing)}: {what}; '
                    f'{model_only_hint(path)}')


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that the train and test tools share.

    These are open-cd's ``--work-dir``, ``--cfg-options``, ``--launcher``
    and ``--local-rank``, plus ``--data-root`` and ``--trust-checkpoint``.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument('--work-dir', help='dir for logs and checkpoints')
    parser.add_argument(
        '--data-root',
        metavar='DIR',
        help='data set folder in LEVIR-CD layout ({train,val,test}/'
        '{A,B,label}) for the train, val and test dataloaders; the same as '
        '--cfg-options data_root=DIR')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. train_cfg.max_iters=100')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher (pytorch = torchrun)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_trust_argument(parser)


def add_trust_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--trust-checkpoint``, the opt-in to full unpickling."""
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='unpickle checkpoints fully (can run code from the file; only '
        'for files you trust). Without it only the inert types of mmengine '
        'checkpoints are loaded. Config key: trust_checkpoint = True')


def checkpoint_trusted(cfg: Config, args: argparse.Namespace) -> bool:
    """Whether the user opted in to full unpickling (flag or config)."""
    return bool(args.trust_checkpoint or cfg.get('trust_checkpoint', False))


def add_fit_check(cfg: Config, strict: bool, source: str) -> None:
    """Append a :class:`CheckpointFitHook` to ``cfg.custom_hooks``."""
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='CheckpointFitHook', strict=strict, source=source)
    ]


def parse_runner_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line; exports LOCAL_RANK like open-cd's tools."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


# --------------------------------------------------------------- data roots
def _pop_data_root(options: dict,
                   data_root: Optional[str]) -> Tuple[Optional[str], str]:
    """Take a top-level ``data_root`` out of ``options``.

    Args:
        options (dict): ``--cfg-options`` (modified in place).
        data_root (str, optional): ``--data-root``.

    Returns:
        tuple[str | None, str]: The data root to apply and the option that
        gave it (for messages).
    """
    option_root = options.pop('data_root', None)
    if option_root is None:
        return data_root, '--data-root'
    if data_root is not None and data_root != option_root:
        raise UserError(
            f'--data-root {data_root} and --cfg-options data_root='
            f'{option_root} disagree: give the data folder once')
    return str(option_root), '--cfg-options data_root'


def check_baked_variables(options: dict) -> None:
    """Refuse top-level ``--cfg-options`` keys that would change nothing.

    Args:
        options (dict): ``--cfg-options`` (without ``data_root``).

    Raises:
        UserError: Naming the ineffective keys and what to use instead.
    """
    baked = [key for key in options if key in BAKED_VARIABLES]
    if baked:
        lines = [f'  {key}: use {BAKED_VARIABLES[key]}' for key in baked]
        raise UserError(
            '--cfg-options ' + ', '.join(baked) + ': top-level config '
            'variables are resolved when the config file is parsed, so '
            'overriding them has no effect. Instead:\n' + '\n'.join(lines))


def _leaf_datasets(dataset: ConfigDict) -> Iterator[ConfigDict]:
    """The data set configs inside wrappers (``dataset`` / ``datasets``).

    Args:
        dataset (ConfigDict): A dataloader's ``dataset``.

    Yields:
        ConfigDict: Each data set config that reads files.
    """
    if dataset.get('datasets') is not None:
        for child in dataset.datasets:
            yield from _leaf_datasets(child)
    elif dataset.get('dataset') is not None:
        yield from _leaf_datasets(dataset.dataset)
    else:
        yield dataset


def split_datasets(cfg: Config, split: str) -> List[ConfigDict]:
    """The data set configs of ``<split>_dataloader`` (none if disabled).

    Args:
        cfg (Config): The config.
        split (str): ``train``, ``val`` or ``test``.

    Returns:
        list[ConfigDict]: The split's data set configs.
    """
    loader = cfg.get(f'{split}_dataloader')
    if not loader or not loader.get('dataset'):
        return []
    return list(_leaf_datasets(loader.dataset))


def set_data_root(cfg: Config, root: str,
                  option: str = '--data-root') -> None:
    """Point the train, val and test data sets at one folder.

    The folder has the LEVIR-CD layout (``train/A``, ``train/B``,
    ``train/label``, ``val/...``, ``test/...``); each data set keeps its
    ``data_prefix``. This replaces e.g. the LEVIR-CD configs' separate
    ``tile_root`` for training.

    Args:
        cfg (Config): The config, modified in place.
        root (str): The data folder.
        option (str): The option that gave ``root``, for the error message.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    if not osp.isdir(root):
        raise FileNotFoundError(
            f'{option} {root}: folder not found. Give a folder in LEVIR-CD '
            'layout: train/A, train/B, train/label, and the same under val/ '
            'and test/')
    for split in DATA_SPLITS:
        for dataset in split_datasets(cfg, split):
            dataset.data_root = root
    for key in ROOT_VARIABLES:
        if key in cfg:
            cfg[key] = root


def set_split_root(cfg: Config, split: str, root: str,
                   folder: Optional[str] = None) -> None:
    """Point one split's data sets at ``root``.

    Args:
        cfg (Config): The config, modified in place.
        split (str): ``train``, ``val`` or ``test``.
        root (str): The data root.
        folder (str, optional): The split's folder inside ``root`` (e.g.
            ``'test'``, or ``''`` for ``root/{A,B,label}``); None keeps the
            data sets' ``data_prefix``.
    """
    for dataset in split_datasets(cfg, split):
        dataset.data_root = root
        if folder is not None:
            dataset.data_prefix = dict(
                img_path_from=osp.join(folder, 'A'),
                img_path_to=osp.join(folder, 'B'),
                seg_map_path=osp.join(folder, 'label'))


def _is_checked_dataset(dataset: ConfigDict) -> bool:
    """Whether a data set config builds a ``CheckedCDDataset`` (or a
    subclass), which takes ``verify_images``."""
    from opencd.registry import DATASETS
    from ..datasets import CheckedCDDataset
    kind = dataset.get('type')
    cls = kind if isinstance(kind, type) else (
        DATASETS.get(kind) if isinstance(kind, str) else None)
    return isinstance(cls, type) and issubclass(cls, CheckedCDDataset)


def enable_image_verification(
        cfg: Config, splits: Tuple[str, ...] = ('val', 'test')) -> List[str]:
    """Decode the splits' images once when their data sets are built.

    Sets ``verify_images=True`` on each ``CheckedCDDataset`` of the splits
    (see :class:`~ftan_opencd.datasets.CheckedCDDataset`).

    Args:
        cfg (Config): The config, modified in place.
        splits (tuple[str]): The splits to verify.

    Returns:
        list[str]: The splits whose data sets were all set to verify.
        Data sets of other types are logged as not verified.
    """
    enabled = []
    for split in splits:
        datasets = split_datasets(cfg, split)
        for dataset in datasets:
            if _is_checked_dataset(dataset):
                dataset.verify_images = True
            else:
                print_log(f'{split} images are not verified before training: '
                          f'{dataset.get("type")} is not a CheckedCDDataset',
                          logger='current', level=logging.WARNING)
        if datasets and all(d.get('verify_images') for d in datasets):
            enabled.append(split)
    return enabled


def data_roots(cfg: Config) -> Dict[str, List[str]]:
    """The data roots that each split reads.

    Args:
        cfg (Config): The config.

    Returns:
        dict[str, list[str]]: ``{split: [data_root, ...]}`` for the splits
        that have a dataloader.
    """
    roots = {}
    for split in DATA_SPLITS:
        datasets = split_datasets(cfg, split)
        if datasets:
            roots[split] = [str(d.get('data_root', '')) for d in datasets]
    return roots


def log_data_roots(cfg: Config, splits: Tuple[str, ...] = DATA_SPLITS) -> None:
    """Log at INFO which folder each split reads (rank 0 only).

    Args:
        cfg (Config): The config.
        splits (tuple[str]): The splits the tool uses.
    """
    if int(os.environ.get('RANK', '0')) != 0:
        return
    for split, roots in data_roots(cfg).items():
        if split not in splits:
            continue
        for root in roots:
            absolute = osp.abspath(root)
            shown = root if absolute == root else f'{root} ({absolute})'
            print_log(f'{split} data root: {shown}', logger='current')


# ----------------------------------------------------------------- schedule
def _iter_schedulers(cfg: Config) -> Iterator[Tuple[str, ConfigDict]]:
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
    for name, scheduler in _iter_schedulers(cfg):
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
    for name, scheduler in _iter_schedulers(cfg):
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
