"""A single-node SLURM cluster on this machine (tools/local_slurm.sh, the
SLURM tests): Debian's ``slurm-wlm`` and ``munge``, daemons started and
stopped by pid file."""
from .local_slurm import LocalSlurm, SlurmSetupError

__all__ = ['LocalSlurm', 'SlurmSetupError']
