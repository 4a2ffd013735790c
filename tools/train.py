"""Train a change detector with an mmengine Runner (open-cd's train.py).

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume]
        [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse
import logging

from mmengine.logging import print_log
from mmengine.runner import Runner

import ftan_opencd  # noqa: F401  registers FTAN's components in open-cd
from ftan_opencd.utils import (add_runner_arguments, load_config,
                               parse_runner_args)
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
    add_runner_arguments(parser)
    return parse_runner_args(parser)


def build_config(args):
    """Config with the command-line options applied."""
    cfg = load_config(args.config, args.launcher, args.cfg_options,
                      args.work_dir)
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
    return cfg


def main():
    cfg = build_config(parse_args())
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
        RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
