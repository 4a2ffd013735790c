"""Test (and evaluate) a trained change detector (open-cd's test.py).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--data-root DIR]
        [--show-dir DIR] [--tta] [--amp] [--no-verify] [--trust-checkpoint]
        [--cfg-options k=v ...] [--launcher pytorch]

``--data-root`` (or ``--cfg-options data_root=DIR``) tests on DIR/test of a
folder in LEVIR-CD layout instead of the config's data. Every test image
and label is decoded once before the test loop (``CheckedCDDataset(
verify_images=True)``), so that a corrupt file is named at once;
``--no-verify`` skips that.

The checkpoint (``.pth`` or published ``.safetensors``) is loaded without
running code from it and must fit the config's model exactly. Mistakes (a
checkpoint that is not one, config and checkpoint swapped, a model-only
config, a missing folder) end with one ``error: ...`` line and exit status
1, without a traceback.
"""
import argparse
import os.path as osp

from mmengine.logging import print_log
from mmengine.runner import Runner

import ftan_opencd  # noqa: F401  registers FTAN's components in open-cd
from ftan_opencd.cli import (add_fit_check, add_runner_arguments,
                             checkpoint_trusted, load_config,
                             parse_runner_args)
from ftan_opencd.datasets import enable_image_verification, log_data_roots
from ftan_opencd.utils import prepare_cpu_distributed, safe_checkpoint_loading
from ftan_opencd.utils.precision import amp_for_testing
from ftan_opencd.errors import UserError, exit_on_user_error
from ftan_opencd.utils.user_errors import check_tool_paths


def parse_args():
    parser = argparse.ArgumentParser(description='Test a change detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--show-dir',
        help='dir for t1 | t2 | error-map panels (white: detected change, '
        'green: false detection, red: missed detection)')
    parser.add_argument(
        '--tta', action='store_true', help='test-time augmentation')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='autocast the test: bf16 on CPUs with native bf16 (AVX-512 '
        'BF16 / AMX; float32 with a log line elsewhere), fp16 on CUDA')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='do not decode the test images once before the test loop (by '
        'default a corrupt or missing file stops the run at once, named)')
    add_runner_arguments(parser)
    return parse_runner_args(parser)


def build_config(args):
    """Config with the command-line options applied.

    Only the checkpoint's existence is checked here; :func:`main` checks
    both arguments first (:func:`check_tool_paths`).

    Args:
        args (argparse.Namespace): The parsed command line.

    Returns:
        Config: The config to test.
    """
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(
            f'CHECKPOINT {args.checkpoint}: checkpoint file not found')
    cfg = load_config(args.config, args.launcher, args.cfg_options,
                      args.work_dir, args.data_root, purpose='test')
    if not args.no_verify:
        enable_image_verification(cfg, ('test',))
    log_data_roots(cfg, ('test',))
    cfg.load_from = args.checkpoint
    cfg.resume = False
    add_fit_check(cfg, strict=True, source=args.checkpoint)
    if args.amp:
        print_log(amp_for_testing(cfg), logger='current')
    if args.show_dir:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='ChangeErrorMapHook', out_dir=osp.abspath(args.show_dir))
        ]
    if args.tta:
        if 'tta_pipeline' not in cfg:
            raise UserError(f'--tta: {args.config} defines no tta_pipeline '
                            '(the test-time augmentation pipeline)')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    return cfg


@exit_on_user_error
def main():
    args = parse_args()
    check_tool_paths(args.config, args.checkpoint)
    cfg = build_config(args)
    prepare_cpu_distributed(cfg)
    with safe_checkpoint_loading(checkpoint_trusted(cfg, args)):
        Runner.from_cfg(cfg).test()


if __name__ == '__main__':
    main()
