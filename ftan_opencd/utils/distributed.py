"""Distributed training and testing without GPUs (torchrun or SLURM, gloo).

mmengine 0.10.7's PyTorch and SLURM launchers always call
``torch.cuda.set_device`` (``_init_dist_pytorch`` / ``_init_dist_slurm``)
and the Runner wraps the model with ``device_ids=[LOCAL_RANK]``; both fail
on a CPU-only node ("Found no NVIDIA driver on your system"). For
``--launcher pytorch`` or ``--launcher slurm`` without CUDA,
:func:`prepare_cpu_distributed` initialises the gloo process group itself
(the Runner then skips its own initialisation, as it does for any process
group that already exists) and has the model wrapped in DDP without device
ids. With CUDA nothing changes: mmengine's own path (NCCL by default) runs.

Under SLURM the rendezvous comes from the job step's variables, as in
mmengine's SLURM launcher: ``SLURM_PROCID`` is the rank, ``SLURM_NTASKS``
the world size, ``SLURM_LOCALID`` the local rank, and the first host of
``scontrol show hostnames $SLURM_NODELIST`` the master address (unless
``MASTER_ADDR`` is set); the port is ``MASTER_PORT`` or
:data:`DEFAULT_MASTER_PORT`.
"""
import datetime
import os
import subprocess
from typing import Dict, Mapping, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config

from ..errors import UserError

# torch.distributed's (and mmengine's SLURM launcher's) default port.
DEFAULT_MASTER_PORT = '29500'
SLURM_VARIABLES = ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST')
TORCHRUN_VARIABLES = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def _missing(env: Mapping[str, str], names) -> list:
    return [name for name in names if not env.get(name)]


def first_slurm_host(node_list: str) -> str:
    """The first host name of a SLURM node list (``node[01-04]`` -> ``node01``).

    Args:
        node_list (str): ``SLURM_NODELIST``.

    Returns:
        str: The first host, from ``scontrol show hostnames``.

    Raises:
        UserError: ``scontrol`` is missing or fails.
    """
    try:
        result = subprocess.run(['scontrol', 'show', 'hostnames', node_list],
                                capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, 'stderr', '') or str(exc)
        raise UserError(
            f'--launcher slurm: `scontrol show hostnames {node_list}` failed '
            f'({detail.strip()}); run on a node with the SLURM client tools, '
            'or set MASTER_ADDR to the first node of the job') from exc
    hosts = result.stdout.split()
    if not hosts:
        raise UserError(f'--launcher slurm: SLURM_NODELIST={node_list} '
                        'names no host; set MASTER_ADDR')
    return hosts[0]


def slurm_environment(env: Optional[Mapping[str, str]] = None
                      ) -> Dict[str, str]:
    """torchrun's variables (``RANK``, ``WORLD_SIZE``, ...) for a SLURM task.

    Args:
        env (Mapping, optional): The environment; defaults to
            ``os.environ``.

    Returns:
        dict[str, str]: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
        ``MASTER_ADDR`` and ``MASTER_PORT``.

    Raises:
        UserError: The process is not a task of a SLURM job step.
    """
    env = os.environ if env is None else env
    missing = _missing(env, SLURM_VARIABLES)
    if missing:
        raise UserError(
            f'--launcher slurm: {", ".join(missing)} not set, so this is not '
            'a task of a SLURM job step; start it with srun (e.g. '
            'tools/slurm_train.sh), or use --launcher pytorch under torchrun')
    master_addr = env.get('MASTER_ADDR') or first_slurm_host(
        env['SLURM_NODELIST'])
    return dict(
        RANK=env['SLURM_PROCID'],
        WORLD_SIZE=env['SLURM_NTASKS'],
        LOCAL_RANK=env.get('SLURM_LOCALID', '0'),
        MASTER_ADDR=master_addr,
        MASTER_PORT=env.get('MASTER_PORT') or DEFAULT_MASTER_PORT)


def init_cpu_process_group(launcher: str, timeout: Optional[float] = None
                           ) -> None:
    """Join the gloo process group of a torchrun or SLURM job.

    Args:
        launcher (str): ``'pytorch'`` (torchrun's variables) or ``'slurm'``
            (the SLURM variables, exported as torchrun's for the tools and
            mmengine).
        timeout (float, optional): Seconds a collective may wait
            (``env_cfg.dist_cfg.timeout``); torch's default if None.

    Raises:
        UserError: The launcher's variables are missing.
    """
    if launcher == 'slurm':
        os.environ.update(slurm_environment())
    missing = _missing(os.environ, TORCHRUN_VARIABLES)
    if missing:
        raise UserError(
            f'--launcher pytorch: {", ".join(missing)} not set; start the '
            'tool with torchrun (e.g. tools/dist_train.sh), or drop '
            '--launcher for one process')
    kwargs = {}
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    dist.init_process_group(
        backend='gloo', init_method='env://',
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']), **kwargs)


def prepare_cpu_distributed(cfg: Config) -> bool:
    """Adapt ``cfg`` for a CPU ``torchrun`` or ``srun`` job.

    Joins the gloo process group (:func:`init_cpu_process_group`), sets
    ``env_cfg.dist_cfg.backend='gloo'`` and DDP without device ids. Does
    nothing for ``launcher='none'``/``'mpi'`` or when CUDA is available
    (mmengine's launchers handle GPUs).

    Args:
        cfg (Config): The config, with ``launcher`` set; modified in place.

    Returns:
        bool: Whether it did.
    """
    if cfg.get('launcher', 'none') not in ('pytorch', 'slurm') or \
            torch.cuda.is_available():
        return False
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    if not dist.is_initialized():
        init_cpu_process_group(cfg.launcher,
                               cfg.env_cfg.dist_cfg.get('timeout'))
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return True
