"""Options and config loading shared by ``tools/train.py`` and
``tools/test.py``."""
import argparse
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction



def load_config(path: str,
                launcher: str = 'none',
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None) -> Config:
    """Load ``path`` and apply the options every tool accepts.

    Args:
        path (str): Config file.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        work_dir (str, optional): Output folder; defaults to the config's
            ``work_dir`` or ``./work_dirs/<config name>`` as in open-cd.

    Returns:
        Config: The config, ready for ``Runner.from_cfg``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-dir``, ``--cfg-options``, ``--launcher`` and
    ``--local-rank`` (the options open-cd's train and test tools share)."""
    parser.add_argument('--work-dir', help='dir for logs and checkpoints')
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
