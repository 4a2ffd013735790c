"""Short seeded trainings of several models with one recipe (``learn``).

Every model gets ``configs/benchmark/_learning_.py`` (synthetic demo data,
AdamW, linear warm-up + poly decay, the same iterations and batch) and its
own architecture from ``configs/benchmark/<model>.py``; it is trained in a
fresh process with an mmengine ``Runner`` and its final weights are tested
on the test split with ``ChangeMetric``.

    python -m ftan_tools.benchmark.learning CONFIG.py RESULT.json

runs one such training (used by :func:`run_learning`).
"""
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict

from mmengine.config import Config

from .zoo import config_dir, load_model_config

METRIC_KEYS = ('F1', 'IoU', 'precision', 'recall', 'OA', 'Kappa')


def learning_config(name: str, args) -> Config:
    """The training config of ``name`` for the learning comparison.

    Args:
        name (str): A benchmark model name.
        args (argparse.Namespace): ``data_root``, ``iters``, ``batch``,
            ``lr``, ``seed``, ``test_images`` and ``out``.

    Returns:
        Config: A complete mmengine config.
    """
    cfg = Config.fromfile(osp.join(config_dir(), 'benchmark', '_learning_.py'))
    cfg.model = load_model_config(name).model
    cfg.work_dir = osp.abspath(osp.join(args.out, name))
    cfg.randomness = dict(seed=args.seed)
    warmup = max(1, args.iters // 10)
    cfg.train_cfg.max_iters = args.iters
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
    data_root = osp.abspath(args.data_root)
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = data_root
    if args.test_images:
        cfg.test_dataloader.dataset.indices = args.test_images
    return cfg


def run_learning(args, command: str) -> Dict:
    """Train and test each model of ``args.models``; write the report.

    Returns:
        dict: ``command``, ``settings`` and per-model ``results`` (test
        metrics of the final weights, training and test wall time); also
        written to ``args.out`` as ``learning.json`` and ``learning.md``.
    """
    os.makedirs(args.out, exist_ok=True)
    report = dict(
        command=command,
        settings=dict(models=list(args.models), data_root=args.data_root,
                      iters=args.iters, batch=args.batch, lr=args.lr,
                      seed=args.seed, test_images=args.test_images),
        results={})
    for i, name in enumerate(args.models, 1):
        cfg = learning_config(name, args)
        os.makedirs(cfg.work_dir, exist_ok=True)
        cfg_path = osp.join(cfg.work_dir, f'{name}_learning.py')
        result_path = osp.join(cfg.work_dir, 'result.json')
        cfg.dump(cfg_path)
        print(f'[{i}/{len(args.models)}] {name}: {args.iters} iterations',
              flush=True)
        with open(osp.join(cfg.work_dir, 'train_test.log'), 'w') as log:
            code = subprocess.call(
                [sys.executable, '-m', 'ftan_tools.benchmark.learning',
                 cfg_path, result_path],
                stdout=log, stderr=subprocess.STDOUT)
        result = dict(exit_code=code)
        if code == 0:
            with open(result_path) as f:
                result = json.load(f)
        report['results'][name] = result
        print(f'  {name}: ' + (', '.join(
            f'{k}={result["metrics"].get(k)}' for k in ('F1', 'IoU'))
            if code == 0 else f'failed (exit code {code}), see '
            f'{cfg.work_dir}/train_test.log'), flush=True)
    with open(osp.join(args.out, 'learning.json'), 'w') as f:
        json.dump(report, f, indent=1)
    with open(osp.join(args.out, 'learning.md'), 'w') as f:
        f.write(learning_markdown(report))
    print(f'wrote {osp.join(args.out, "learning.json")} and learning.md')
    return report


def learning_markdown(report: Dict) -> str:
    """A Markdown table of the learning comparison."""
    s = report['settings']
    lines = [
        '## Learning comparison', '',
        f'Command: `{report["command"]}`', '',
        f'{s["iters"]} iterations, batch {s["batch"]}, AdamW lr {s["lr"]}, '
        f'seed {s["seed"]}, data `{s["data_root"]}`; change-class metrics '
        '(%) of the final weights on the test split.', '',
        '| Model | ' + ' | '.join(METRIC_KEYS) + ' | Train (s) | Test (s) |',
        '|---' * (len(METRIC_KEYS) + 3) + '|'
    ]
    for name, r in report['results'].items():
        if 'metrics' not in r:
            lines.append(f'| {name} | failed (exit code {r["exit_code"]}) |')
            continue
        lines.append(f'| {name} | ' + ' | '.join(
            f'{r["metrics"].get(k, float("nan")):.2f}' for k in METRIC_KEYS)
            + f' | {r["train_s"]:.0f} | {r["test_s"]:.0f} |')
    return '\n'.join(lines) + '\n'


def train_and_test(cfg_path: str, result_path: str) -> Dict:
    """Train the config with an mmengine Runner, then test it.

    Returns:
        dict: ``metrics`` (test), ``train_s`` and ``test_s``.
    """
    import ftan_opencd  # noqa: F401  registers FTAN in open-cd
    from mmengine.runner import Runner
    runner = Runner.from_cfg(Config.fromfile(cfg_path))
    start = time.perf_counter()
    runner.train()
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics = runner.test()
    result = dict(metrics={k: float(v) for k, v in metrics.items()},
                  train_s=train_s, test_s=time.perf_counter() - start)
    with open(result_path, 'w') as f:
        json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    train_and_test(*sys.argv[1:3])
