"""Short seeded trainings of several models with one recipe (``learn``).

Every zoo model trains its runnable config
``configs/benchmark/learn/<model>.py`` (the recipe of
``configs/benchmark/_learning_.py``: AdamW, linear warm-up + poly decay,
the same iterations and batch, and the model of
``configs/benchmark/<model>.py``); an extra model given with ``--config``
(any FTAN config, the demo one included) gets the same recipe with its
config's ``model``. Each is trained in a fresh process with an mmengine
``Runner``, validated once at the end on the validation split (when there
is one) and its final weights are tested on the test split with
``ChangeMetric``.

The splits: ``--data-root DIR`` (LEVIR-CD layout) gives ``DIR/train``;
validation is ``--val-root`` or ``DIR/val`` when it exists (``--no-val``:
none); testing is ``--test-root`` or ``DIR/test``. A ``--val-root`` /
``--test-root`` folder holds ``val/`` / ``test/`` of that layout, or the
``A``, ``B`` and ``label`` folders directly.

With ``--seeds 0 1 2`` every model trains once per seed, each run in its
own work dir (``OUT/<model>/seed_<seed>``); ``learning.json`` keeps every
seed's result and the mean and sample standard deviation (n - 1) of each
metric, and ``learning.md`` shows mean +- std per model, then a per-seed
table.

    python -m ftan_tools.benchmark.learning CONFIG.py RESULT.json

runs one such training (used by :func:`run_learning`).
"""
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from ftan_opencd.datasets import log_data_roots, set_split_root
from ftan_opencd.errors import UserError
from ftan_opencd.utils.user_errors import check_config_path
from .zoo import config_dir, learn_config_path

METRIC_KEYS = ('F1', 'IoU', 'precision', 'recall', 'OA', 'Kappa')
SPLIT_FOLDERS = ('A', 'B', 'label')
# A split's location: (data root, folder of A/B/label inside it).
Location = Tuple[str, str]


# ------------------------------------------------------------------- roots
def _has_split(folder: str) -> bool:
    """Whether ``folder`` holds the A, B and label folders."""
    return all(osp.isdir(osp.join(folder, name)) for name in SPLIT_FOLDERS)


def split_location(root: str, split: str, option: str,
                   flat: bool = True) -> Location:
    """Where a split's A, B and label folders are.

    Args:
        root (str): The folder given on the command line.
        split (str): ``train``, ``val`` or ``test``.
        option (str): The option that gave ``root``, for messages.
        flat (bool): Accept ``root/{A,B,label}`` too.

    Returns:
        tuple[str, str]: The absolute root and the split's folder in it
        (``split``, or ``''`` for the flat layout).

    Raises:
        FileNotFoundError: Naming the option and the folders looked for.
    """
    if not osp.isdir(root):
        raise FileNotFoundError(
            f'{option} {root}: folder not found (synthetic data: python '
            'tools/make_demo_data.py --out data/demo-cd)')
    if _has_split(osp.join(root, split)):
        return osp.abspath(root), split
    if flat and _has_split(root):
        return osp.abspath(root), ''
    wanted = f'{split}/{{A,B,label}}' + (' or {A,B,label}' if flat else '')
    raise FileNotFoundError(
        f'{option} {root}: no {wanted} folders in it (LEVIR-CD layout)')


def resolve_roots(args) -> Dict[str, Optional[Location]]:
    """The train, val and test locations of the command line.

    Args:
        args (argparse.Namespace): ``data_root``, ``val_root``,
            ``test_root`` and ``no_val``.

    Returns:
        dict: ``{split: (root, folder)}``; ``val`` is None without
        validation (``--no-val``, or no ``--val-root`` and no val/ folder).

    Raises:
        FileNotFoundError: A given folder lacks its split.
        UserError: ``--val-root`` together with ``--no-val``.
    """
    data_root = args.data_root
    roots = dict(train=split_location(data_root, 'train', '--data-root',
                                      flat=False))
    val_root = getattr(args, 'val_root', None)
    if getattr(args, 'no_val', False):
        if val_root:
            raise UserError('--val-root and --no-val contradict each other: '
                            'give one')
        roots['val'] = None
    elif val_root:
        roots['val'] = split_location(val_root, 'val', '--val-root')
    else:
        roots['val'] = (osp.abspath(data_root), 'val') if _has_split(
            osp.join(data_root, 'val')) else None
    test_root = getattr(args, 'test_root', None)
    roots['test'] = (split_location(test_root, 'test', '--test-root')
                     if test_root else
                     split_location(data_root, 'test', '--data-root',
                                    flat=False))
    return roots


def default_roots(args) -> Dict[str, Optional[Location]]:
    """Train and test at ``args.data_root`` with the configs' folders, no
    validation (:func:`learning_config` without resolved roots)."""
    root = osp.abspath(args.data_root)
    return dict(train=(root, None), val=None, test=(root, None))


def split_folder(location: Optional[Location]) -> Optional[str]:
    """The folder holding a split's A/B/label (for reports)."""
    if location is None:
        return None
    root, folder = location
    return osp.join(root, folder) if folder else root


# ------------------------------------------------------------------ models
def model_sources(args) -> Dict[str, Optional[str]]:
    """The models to train: zoo names, then ``--config`` files.

    Args:
        args (argparse.Namespace): ``models`` and ``config`` (a list of
            config files, or None).

    Returns:
        dict[str, str | None]: Name -> the config whose ``model`` is
        trained on the recipe (None: the zoo model's learn config).

    Raises:
        UserError: An extra config lacks a model, or its name repeats one.
        FileNotFoundError: An extra config does not exist.
    """
    sources = {name: None for name in args.models}
    for path in getattr(args, 'config', None) or []:
        check_config_path(path, '--config')
        name = osp.splitext(osp.basename(path))[0]
        if name in sources:
            raise UserError(f'--config {path}: the name {name} is already '
                            'in the comparison; rename the file')
        if 'model' not in Config.fromfile(path):
            raise UserError(f'--config {path} defines no model')
        sources[name] = osp.abspath(path)
    if not sources:
        raise UserError('nothing to train: give --models and/or --config')
    return sources


def _recipe(name: str, model_config: Optional[str]) -> Config:
    """The complete config of a model on the learning recipe."""
    if model_config is None:
        return Config.fromfile(learn_config_path(name))
    cfg = Config.fromfile(osp.join(config_dir(), 'benchmark', '_learning_.py'))
    cfg.model = Config.fromfile(model_config).model
    return cfg


def _set_schedule(cfg: Config, args, seed: int) -> None:
    """Iterations, warm-up + decay, lr, batch, seed and intervals."""
    warmup = max(1, args.iters // 10)
    cfg.randomness = dict(seed=seed)
    cfg.train_cfg.max_iters = args.iters
    cfg.train_cfg.val_interval = args.iters
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=warmup),
        dict(type='PolyLR', power=1.0, eta_min=0.0, begin=warmup,
             end=max(args.iters, warmup + 1), by_epoch=False)
    ]
    cfg.default_hooks.checkpoint.interval = args.iters
    cfg.default_hooks.logger.interval = max(1, min(20, args.iters // 5))
    cfg.optim_wrapper.optimizer.lr = args.lr
    cfg.train_dataloader.batch_size = args.batch


def _set_roots(cfg: Config, roots: Dict[str, Optional[Location]],
               test_images: Optional[int]) -> None:
    """Point the splits at their folders; no validation without one."""
    for split in ('train', 'val', 'test'):
        if roots.get(split) is not None:
            set_split_root(cfg, split, *roots[split])
    if roots.get('val') is None:
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    if test_images:
        cfg.test_dataloader.dataset.indices = test_images


def learning_config(name: str,
                    args,
                    roots: Optional[Dict[str, Optional[Location]]] = None,
                    model_config: Optional[str] = None,
                    seed: Optional[int] = None) -> Config:
    """The training config of ``name`` for the learning comparison.

    Args:
        name (str): A benchmark model name, or the name of an extra model.
        args (argparse.Namespace): ``data_root``, ``iters``, ``batch``,
            ``lr``, ``seed``, ``test_images`` and ``out``.
        roots (dict, optional): The split locations of
            :func:`resolve_roots`; None: train and test at
            ``args.data_root``, no validation.
        model_config (str, optional): Train this config's ``model`` on the
            recipe instead of the zoo model ``name``.
        seed (int, optional): One run of ``--seeds``: this seed, in the work
            dir ``OUT/<name>/seed_<seed>``; None: ``args.seed`` in
            ``OUT/<name>``.

    Returns:
        Config: A complete mmengine config.
    """
    cfg = _recipe(name, model_config)
    work_dir = osp.join(args.out, name)
    if seed is not None:
        work_dir = osp.join(work_dir, f'seed_{seed}')
    cfg.work_dir = osp.abspath(work_dir)
    _set_schedule(cfg, args, args.seed if seed is None else seed)
    _set_roots(cfg, roots or default_roots(args), args.test_images)
    return cfg


# --------------------------------------------------------------- comparison
def _settings(args, roots: Dict[str, Optional[Location]],
              sources: Dict[str, Optional[str]]) -> Dict:
    """The report's settings: what was trained on which folders."""
    return dict(
        models=list(sources), data_root=osp.abspath(args.data_root),
        val_root=roots['val'][0] if roots['val'] else None,
        test_root=roots['test'][0],
        splits={split: split_folder(location)
                for split, location in roots.items()},
        configs={name: path for name, path in sources.items() if path},
        iters=args.iters, batch=args.batch, lr=args.lr,
        seed=None if _seeds(args) else args.seed, seeds=_seeds(args),
        test_images=args.test_images)


def _seeds(args) -> Optional[List[int]]:
    """The ``--seeds`` of the command line (None: one run, ``--seed``)."""
    seeds = getattr(args, 'seeds', None)
    return list(seeds) if seeds else None


def _train_one(name: str, cfg: Config) -> Dict:
    """Train and test one config in a fresh process; its result."""
    os.makedirs(cfg.work_dir, exist_ok=True)
    cfg_path = osp.join(cfg.work_dir, f'{name}_learning.py')
    result_path = osp.join(cfg.work_dir, 'result.json')
    cfg.dump(cfg_path)
    with open(osp.join(cfg.work_dir, 'train_test.log'), 'w') as log:
        code = subprocess.call(
            [sys.executable, '-m', 'ftan_tools.benchmark.learning', cfg_path,
             result_path],
            stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        return dict(exit_code=code)
    with open(result_path) as f:
        return json.load(f)


def _outcome(label: str, result: Dict, work_dir: str) -> str:
    """One console line: F1 and IoU of a run, or where its log is."""
    if 'metrics' in result:
        return f'  {label}: ' + ', '.join(
            f'{k}={result["metrics"].get(k)}' for k in ('F1', 'IoU'))
    return (f'  {label}: failed (exit code {result["exit_code"]}), see '
            f'{work_dir}/train_test.log')


def seed_statistics(runs: Dict[str, Dict]) -> Dict:
    """Mean and sample standard deviation of the runs that finished.

    Args:
        runs (dict[str, dict]): Result per seed (as a string), each with
            ``metrics`` (and ``val_metrics``, ``train_s``, ``test_s``) or
            ``exit_code``.

    Returns:
        dict: ``mean`` and ``std`` of the test metrics (std None with fewer
        than two finished runs), ``val_mean``, mean ``train_s`` and
        ``test_s``, ``runs`` (finished) and ``failed_seeds``.
    """
    done = [r for r in runs.values() if 'metrics' in r]
    stats = dict(runs=len(done),
                 failed_seeds=[s for s, r in runs.items()
                               if 'metrics' not in r])
    if not done:
        return stats
    stats['mean'], stats['std'] = _mean_std([r['metrics'] for r in done])
    stats['val_mean'] = _mean_std(
        [r['val_metrics'] for r in done if r.get('val_metrics')])[0]
    for key in ('train_s', 'test_s'):
        stats[key] = statistics.fmean(r[key] for r in done)
    return stats


def _mean_std(metrics: Sequence[Dict[str, float]]
              ) -> Tuple[Dict[str, float], Dict[str, Optional[float]]]:
    """Per key: the mean, and the sample std (None for one value)."""
    keys = [k for k in METRIC_KEYS if metrics and all(k in m
                                                      for m in metrics)]
    mean = {k: statistics.fmean(m[k] for m in metrics) for k in keys}
    std = {k: statistics.stdev([m[k] for m in metrics])
           if len(metrics) > 1 else None for k in keys}
    return mean, std


def _train_seeds(name: str, model_config: Optional[str], args,
                 roots: Dict[str, Optional[Location]],
                 seeds: Sequence[int], position: str) -> Dict:
    """Train and test one model once per seed; the runs and statistics.

    Args:
        name (str): Model name.
        model_config (str, optional): Its extra config, if any.
        args (argparse.Namespace): The ``learn`` options.
        roots (dict): Split locations (:func:`resolve_roots`).
        seeds (Sequence[int]): The seeds.
        position (str): ``'[i/n]'`` for the console.

    Returns:
        dict: ``seeds`` (result per seed, keyed by the seed as a string)
        and the entries of :func:`seed_statistics`.
    """
    runs = {}
    for seed in seeds:
        cfg = learning_config(name, args, roots, model_config, seed)
        print(f'{position} {name}, seed {seed}: {args.iters} iterations',
              flush=True)
        runs[str(seed)] = _train_one(name, cfg)
        print(_outcome(f'{name} seed {seed}', runs[str(seed)],
                       cfg.work_dir), flush=True)
    return dict(seeds=runs, **seed_statistics(runs))


def run_learning(args, command: str) -> Dict:
    """Train and test each model; write the report.

    Args:
        args (argparse.Namespace): The ``learn`` options.
        command (str): The command line, for the report.

    Returns:
        dict: ``command``, ``settings`` (models, the train/val/test
        folders, recipe) and per-model ``results`` (test metrics of the
        final weights, validation metrics, training and test wall time;
        with ``args.seeds``: ``seeds``, the result of each seed, and
        ``mean`` / ``std`` over them, see :func:`seed_statistics`); also
        written to ``args.out`` as ``learning.json`` and ``learning.md``.
    """
    roots = resolve_roots(args)
    sources = model_sources(args)
    seeds = _seeds(args)
    os.makedirs(args.out, exist_ok=True)
    report = dict(command=command, settings=_settings(args, roots, sources),
                  results={})
    for i, (name, model_config) in enumerate(sources.items(), 1):
        position = f'[{i}/{len(sources)}]'
        if seeds:
            result = _train_seeds(name, model_config, args, roots, seeds,
                                  position)
        else:
            cfg = learning_config(name, args, roots, model_config)
            print(f'{position} {name}: {args.iters} iterations', flush=True)
            result = _train_one(name, cfg)
            print(_outcome(name, result, cfg.work_dir), flush=True)
        result['config'] = model_config or learn_config_path(name)
        report['results'][name] = result
    with open(osp.join(args.out, 'learning.json'), 'w') as f:
        json.dump(report, f, indent=1)
    with open(osp.join(args.out, 'learning.md'), 'w') as f:
        f.write(learning_markdown(report))
    print(f'wrote {osp.join(args.out, "learning.json")} and learning.md')
    return report


def _row(name: str, result: Dict, with_val: bool) -> str:
    """One Markdown table row."""
    if 'metrics' not in result:
        return f'| {name} | failed (exit code {result["exit_code"]}) |'
    cells = [f'{result["metrics"].get(k, float("nan")):.2f}'
             for k in METRIC_KEYS]
    if with_val:
        val_f1 = result.get('val_metrics', {}).get('F1', float('nan'))
        cells.append(f'{val_f1:.2f}')
    cells += [f'{result["train_s"]:.0f}', f'{result["test_s"]:.0f}']
    return f'| {name} | ' + ' | '.join(cells) + ' |'


def _mean_std_cell(stats: Dict, key: str) -> str:
    """``mean ± std`` of one metric (``–`` for an undefined std)."""
    mean = stats.get('mean', {}).get(key, math.nan)
    std = stats.get('std', {}).get(key)
    return f'{mean:.2f} ± ' + ('–' if std is None else f'{std:.2f}')


def _seed_row(name: str, stats: Dict, with_val: bool, seeds: int) -> str:
    """One row of the mean ± std table."""
    if not stats['runs']:
        return f'| {name} | every seed failed (see per seed) |'
    cells = [_mean_std_cell(stats, k) for k in METRIC_KEYS]
    if with_val:
        cells.append(f'{stats.get("val_mean", {}).get("F1", math.nan):.2f}')
    cells += [f'{stats["runs"]}/{seeds}', f'{stats["train_s"]:.0f}',
              f'{stats["test_s"]:.0f}']
    return f'| {name} | ' + ' | '.join(cells) + ' |'


def _table(header: Sequence[str], rows: Sequence[str]) -> List[str]:
    """A Markdown table: header (every column), rule, rows."""
    return (['| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|'] +
            list(rows))


def _seed_tables(report: Dict, with_val: bool) -> List[str]:
    """The mean ± std table, then the per-seed table."""
    seeds = report['settings']['seeds']
    val = ['Val F1'] if with_val else []
    means = _table(
        ['Model'] + [f'{k} (mean ± std)' for k in METRIC_KEYS] + [
            f'{v} (mean)' for v in val] + ['Runs', 'Train (s)', 'Test (s)'],
        [_seed_row(name, r, with_val, len(seeds))
         for name, r in report['results'].items()])
    per_seed = _table(
        ['Model', 'Seed', *METRIC_KEYS, *val, 'Train (s)', 'Test (s)'],
        [_row(f'{name} | {seed}', run, with_val)
         for name, r in report['results'].items()
         for seed, run in r['seeds'].items()])
    return means + ['', '### Per seed', ''] + per_seed


def learning_markdown(report: Dict) -> str:
    """A Markdown table of the learning comparison.

    Args:
        report (dict): The report of :func:`run_learning`.

    Returns:
        str: The section, with the command, the folders and the table (with
        ``--seeds``: mean ± std per model, then one row per model and seed).
    """
    s = report['settings']
    splits = s.get('splits') or dict(train=s['data_root'], val=None,
                                     test=s['data_root'])
    with_val = splits.get('val') is not None
    seeds = s.get('seeds')
    runs = (f'seeds {", ".join(map(str, seeds))} (one run per model and '
            'seed; mean ± sample standard deviation over the seeds)'
            if seeds else f'seed {s["seed"]}')
    lines = [
        '## Learning comparison', '',
        f'Command: `{report["command"]}`', '',
        f'{s["iters"]} iterations, batch {s["batch"]}, AdamW lr {s["lr"]}, '
        f'{runs}; train `{splits["train"]}`, validation '
        + (f'`{splits["val"]}`' if with_val else 'none')
        + f', test `{splits["test"]}`; change-class metrics (%) of the '
        'final weights on the test split'
        + (' (Val F1: on the validation split)' if with_val else '') + '.',
        ''
    ]
    if seeds:
        lines += _seed_tables(report, with_val)
    else:
        header = ['Model', *METRIC_KEYS] + (['Val F1'] if with_val else [
        ]) + ['Train (s)', 'Test (s)']
        lines += _table(header, [_row(name, r, with_val)
                                 for name, r in report['results'].items()])
    return '\n'.join(lines) + '\n'


# ------------------------------------------------------------------ worker
def _val_metrics(runner) -> Dict[str, float]:
    """The metrics of the last validation (empty without one)."""
    scalars = runner.message_hub.log_scalars
    return {key: float(scalars[f'val/{key}'].current())
            for key in METRIC_KEYS if f'val/{key}' in scalars}


def train_and_test(cfg_path: str, result_path: str) -> Dict:
    """Train the config with an mmengine Runner, then test it.

    Args:
        cfg_path (str): The dumped config.
        result_path (str): JSON file to write.

    Returns:
        dict: ``metrics`` (test), ``val_metrics``, ``train_s`` and
        ``test_s``.
    """
    import ftan_opencd  # noqa: F401  registers FTAN in open-cd
    from mmengine.runner import Runner
    cfg = Config.fromfile(cfg_path)
    runner = Runner.from_cfg(cfg)
    log_data_roots(cfg)
    start = time.perf_counter()
    runner.train()
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics = runner.test()
    result = dict(metrics={k: float(v) for k, v in metrics.items()},
                  val_metrics=_val_metrics(runner),
                  train_s=train_s, test_s=time.perf_counter() - start)
    with open(result_path, 'w') as f:
        json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    train_and_test(*sys.argv[1:3])
