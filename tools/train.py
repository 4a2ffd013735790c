"""Train a change detector with an mmengine Runner (open-cd's train.py).

    python tools/train.py CONFIG [--work-dir DIR] [--data-root DIR]
        [--iters N] [--amp] [--resume [CKPT]] [--partial-load]
        [--no-verify] [--trust-checkpoint] [--cfg-options k=v ...]
        [--launcher pytorch]

``--data-root`` points the train, val and test dataloaders at one folder in
LEVIR-CD layout; ``--iters`` sets the training length and rescales the
learning-rate schedule, validation and checkpoint intervals with it.

Checkpoints (``load_from``, ``--resume``, ``Pretrained`` backbones) are
loaded without running code from them and must fit the model exactly,
unless ``--partial-load`` (fine-tuning from other weights).

Every image and label of the validation and test sets is decoded once
before the first training iteration (``CheckedCDDataset(verify_images=
True)``), so that a corrupt file stops the run at once; ``--no-verify``
skips that. Mistakes (a model-only config, a checkpoint that is not one, a
missing folder, a bad image) end with one ``error: ...`` line and exit
status 2, without a traceback.
"""
import argparse
import copy

from mmengine.logging import print_log
from mmengine.registry import DATASETS
from mmengine.runner import Runner

import ftan_opencd  # noqa: F401  registers FTAN's components in open-cd
from ftan_opencd.cli import (add_fit_check, add_runner_arguments,
                             checkpoint_trusted, load_config,
                             parse_runner_args)
from ftan_opencd.datasets import (enable_image_verification, log_data_roots,
                                  split_datasets)
from ftan_opencd.engine import check_schedule, set_train_iters
from ftan_opencd.utils import (load_checkpoint_file, prepare_cpu_distributed,
                               safe_checkpoint_loading)
from ftan_opencd.utils.precision import amp_for_training
from ftan_opencd.utils.resume import latest_complete_checkpoint
from ftan_opencd.errors import UserError, exit_on_user_error
from ftan_opencd.utils.user_errors import (check_checkpoint_path,
                                           check_config_path)
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
        '--amp',
        action='store_true',
        help='mixed precision: bf16 (or fp16) AmpOptimWrapper on CUDA, bf16 '
        'autocast on CPUs with native bf16 (AVX-512 BF16 / AMX); float32 '
        'with a log line on other CPUs')
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
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='do not decode the val and test images once before training '
        '(by default a corrupt or missing file stops the run at once)')
    add_runner_arguments(parser)
    return parse_runner_args(parser)


def check_arguments(args) -> None:
    """Check the config and checkpoint arguments before loading anything.

    Args:
        args (argparse.Namespace): The parsed command line.

    Raises:
        UserError, FileNotFoundError, IsADirectoryError: Naming the argument.
    """
    check_config_path(
        args.config, 'CONFIG',
        'tools/train.py takes a config; to go on from this checkpoint use '
        f'--resume {args.config} (with its config), to start from its '
        f'weights --cfg-options load_from={args.config}')
    if args.resume not in (None, 'auto'):
        check_checkpoint_path(args.resume, '--resume')


def build_config(args):
    """Config with the command-line options applied.

    Args:
        args (argparse.Namespace): The parsed command line.

    Returns:
        Config: The config to train.
    """
    cfg = load_config(args.config, args.launcher, args.cfg_options,
                      args.work_dir, args.data_root, purpose='train')
    if args.iters is not None:
        if 'train_cfg.max_iters' in (args.cfg_options or {}):
            raise UserError(
                '--iters and --cfg-options train_cfg.max_iters both '
                'set the training length: use --iters alone (it also '
                'rescales the schedule and the intervals)')
        set_train_iters(cfg, args.iters)
    if args.amp:
        print_log(amp_for_training(cfg), logger='current')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise UserError(f'--auto-scale-lr: {args.config} defines no '
                            'auto_scale_lr (add auto_scale_lr = dict('
                            'enable=False, base_batch_size=N))')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = latest_complete_checkpoint(cfg.work_dir)
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    add_fit_check(cfg, strict=cfg.resume or not args.partial_load,
                  source=cfg.load_from)
    if cfg.load_from and not cfg.resume and '://' not in str(cfg.load_from):
        check_checkpoint_path(cfg.load_from, 'load_from')
    if not args.no_verify:
        enable_image_verification(cfg, ('val', 'test'))
    log_data_roots(cfg, ('train', 'val'))
    check_schedule(cfg)
    return cfg


def check_resumable(path: str, trusted: bool) -> None:
    """Refuse to resume from a file that is not a training checkpoint.

    Args:
        path (str): The ``--resume`` checkpoint.
        trusted (bool): Unpickle it fully.

    Raises:
        UserError: It lacks the training state (e.g. published weights).
    """
    checkpoint = load_checkpoint_file(path, 'cpu', trusted)
    missing = [key for key in ('meta', 'state_dict', 'message_hub')
               if key not in checkpoint]
    if missing:
        raise UserError(
            f'--resume {path}: not a training checkpoint of tools/train.py '
            f'(it lacks {", ".join(missing)}; published weights cannot be '
            'resumed). To start from its weights: --cfg-options '
            f'load_from={path} (add --partial-load to fine-tune)')


def verify_test_images(cfg) -> None:
    """Build the test set once, so that ``verify_images`` decodes it now.

    The runner builds the validation set before the first iteration, but
    the test set only when testing; a bad test image is found here, before
    training, instead of after it.

    Args:
        cfg (Config): The training config.
    """
    if any(dataset.get('verify_images')
           for dataset in split_datasets(cfg, 'test')):
        DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))


@exit_on_user_error
def main():
    args = parse_args()
    check_arguments(args)
    cfg = build_config(args)
    prepare_cpu_distributed(cfg)
    trusted = checkpoint_trusted(cfg, args)
    if cfg.resume and cfg.load_from:
        check_resumable(cfg.load_from, trusted)
    with safe_checkpoint_loading(trusted):
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
            RUNNERS.build(cfg)
        verify_test_images(cfg)
        runner.train()


if __name__ == '__main__':
    main()
