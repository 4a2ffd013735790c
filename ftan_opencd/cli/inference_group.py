"""Join the process group of a distributed ``tools/predict.py`` run."""
import torch
import torch.distributed as dist

from ..utils.distributed import init_cpu_process_group

LAUNCHERS = ('none', 'pytorch', 'slurm')


def join_inference_group(launcher: str, device: str) -> str:
    """Join the torchrun or SLURM job's process group, if any.

    On CUDA devices this is mmengine's own initialisation (NCCL, one GPU per
    local rank); on CPUs the gloo group of
    :func:`ftan_opencd.utils.distributed.init_cpu_process_group`. The
    group only exchanges small objects (which rank did what, and whether it
    worked): the images never travel.

    Args:
        launcher (str): ``'none'``, ``'pytorch'`` (torchrun) or ``'slurm'``.
        device (str): The ``--device`` of the run.

    Returns:
        str: The device of this rank (``cuda:LOCAL_RANK`` on GPUs).
    """
    if launcher == 'none':
        return device
    if device.startswith('cuda') and torch.cuda.is_available():
        from mmengine.dist import init_dist
        init_dist(launcher)
        return f'cuda:{torch.cuda.current_device()}'
    init_cpu_process_group(launcher)
    return device


def leave_inference_group() -> None:
    """Wait until every rank of the group is done.

    The group is not destroyed: with torch 2.1's gloo, a rank that calls
    ``destroy_process_group`` after rank 0 (which holds the rendezvous
    store) has exited can wait forever; the process's exit releases it.
    The barrier keeps rank 0, and its store, alive until all ranks are
    done.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
