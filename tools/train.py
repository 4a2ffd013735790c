"""Train a change detector with an mmengine Runner (open-cd's train.py).

    python tools/train.py CONFIG [--work-dir DIR] [--data-root DIR]
        [--iters N] [--amp] [--resume [CKPT]] [--partial-load]
        [--trust-checkpoint] [--cfg-options k=v ...] [--launcher pytorch]

``--data-root`` points the train, val and test dataloaders at one folder in
LEVIR-CD layout; ``--iters`` sets the training length and rescales the
learning-rate schedule, validation and checkpoint intervals with it.

Checkpoints (``load_from``, ``--resume``, ``Pretrained`` backbones) are
loaded without running code from them and must fit the model exactly,
unless ``--partial-load`` (fine-tuning from other weights).
"""
import argparse
import logging

from mmengine.logging import print_log
from mmengine.runner import Runner

import ftan_opencd  # noqa: F401  registers FTAN's components in open-cd
from ftan_opencd.utils import (add_fit_check, add_runner_arguments,
                               checkpoint_trusted, load_checkpoint_file,
                               load_config, parse_runner_args,
                               prepare_cpu_distributed,
                               safe_checkpoint_loading)
from ftan_opencd.utils.config_loading import (check_schedule, log_data_roots,
                                              set_train_iters)
from opencd.registry import RUNNERS


def parse_args():
    parser = argparse.ArgumentParser(description='Train a change detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        default=None,
        help='resume from the latest checkpoint in the work dir, or from '
        'the given checkpoint path')
    parser.add_argument(
        '--amp', action='store_true', help='mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the ratio of the actual to the base batch size')
    parser.add_argument(
        '--partial-load',
        action='store_true',
        help='load_from may not fit the model exactly (fine-tuning): load '
        'the matching weights and log the others instead of stopping')
    parser.add_argument(
        '--iters',
        type=int,
        metavar='N',
        help='train for N iterations; rescales param_scheduler begin/end, '
        'train_cfg.val_interval and default_hooks.checkpoint.interval')
    add_runner_arguments(parser)
    return parse_runner_args(parser)


def build_config(args):
    """Config with the command-line options applied."""
    cfg = load_config(args.config, args.launcher, args.cfg_options,
                      args.work_dir, args.data_root)
    if args.iters is not None:
        if 'train_cfg.max_iters' in (args.cfg_options or {}):
            raise SystemExit(
                '--iters and --cfg-options train_cfg.max_iters both set the '
                'training length: use --iters alone (it also rescales the '
                'schedule and the intervals)')
        set_train_iters(cfg, args.iters)
    if args.amp:
        if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in the config.',
                      logger='current', level=logging.WARNING)
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise KeyError(f'{args.config} has no auto_scale_lr to enable')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    add_fit_check(cfg, strict=cfg.resume or not args.partial_load,
                  source=cfg.load_from)
    log_data_roots(cfg, ('train', 'val'))
    check_schedule(cfg)
    return cfg


def check_resumable(path: str, trusted: bool) -> None:
    """Refuse to resume from a file that is not a training checkpoint."""
    checkpoint = load_checkpoint_file(path, 'cpu', trusted)
    missing = [key for key in ('meta', 'state_dict', 'message_hub')
               if key not in checkpoint]
    if missing:
        raise SystemExit(
            f'--resume {path}: not a training checkpoint of tools/train.py '
            f'(it lacks {", ".join(missing)}; published weights cannot be '
            'resumed). To start from its weights: --cfg-options '
            f'load_from={path} (add --partial-load to fine-tune)')


def main():
    args = parse_args()
    cfg = build_config(args)
    prepare_cpu_distributed(cfg)
    trusted = checkpoint_trusted(cfg, args)
    if cfg.resume and cfg.load_from:
        check_resumable(cfg.load_from, trusted)
    with safe_checkpoint_loading(trusted):
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
            RUNNERS.build(cfg)
        runner.train()


if __name__ == '__main__':
    main()
