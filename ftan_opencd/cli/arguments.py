"""Command-line options that several tools share: open-cd's runner
options plus ``--data-root`` and ``--trust-checkpoint``."""
import argparse
import os

from mmengine.config import Config, DictAction


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
    """Add ``--trust-checkpoint``, the opt-in to full unpickling.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='unpickle checkpoints fully (can run code from the file; only '
        'for files you trust). Without it only the inert types of mmengine '
        'checkpoints are loaded. Config key: trust_checkpoint = True')


def checkpoint_trusted(cfg: Config, args: argparse.Namespace) -> bool:
    """Whether the user opted in to full unpickling.

    Args:
        cfg (Config): The config (key ``trust_checkpoint``).
        args (argparse.Namespace): The command line
            (``--trust-checkpoint``).

    Returns:
        bool: True if either asks for it.
    """
    return bool(args.trust_checkpoint or cfg.get('trust_checkpoint', False))


def parse_runner_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line; exports LOCAL_RANK like open-cd's tools.

    Args:
        parser (argparse.ArgumentParser): The tool's parser, with
            :func:`add_runner_arguments`.

    Returns:
        argparse.Namespace: The parsed command line.
    """
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args
