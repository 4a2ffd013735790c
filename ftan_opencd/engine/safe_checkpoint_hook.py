"""Checkpoints that survive killed and preempted runs.

mmengine 0.10.7 writes checkpoints with ``open(path, 'wb')`` straight under
the final name (``LocalBackend.put``) and installs no signal handler: a run
killed while it writes leaves a truncated ``iter_N.pth`` that looks
complete, and SIGTERM (SLURM preemption) ends a run without a checkpoint.
:class:`SafeCheckpointHook` is mmengine's ``CheckpointHook`` with

* every checkpoint file written through :class:`AtomicLocalBackend`
  (a hidden temporary file, ``fsync``, rename), and
* SIGTERM turned into "save a checkpoint after this iteration and exit with
  status :data:`REQUEUE_STATUS`", which a requeueing script reads as
  "resubmit with ``--resume``".
"""
import os.path as osp
import signal
import threading
from typing import Optional

import torch
from mmengine.dist import all_reduce, is_distributed, is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook

from opencd.registry import HOOKS
from ..utils.atomic_files import atomic_write_bytes, atomic_write_text

#: Exit status of a run stopped by SIGTERM after saving a checkpoint:
#: EX_TEMPFAIL of sysexits.h, "temporary failure, retry later".
REQUEUE_STATUS = 75
#: Name of :class:`AtomicLocalBackend` for mmengine's ``backend_args``.
ATOMIC_BACKEND = 'ftan_atomic_local'


@register_backend(ATOMIC_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic writes.

    Registered under its own name without URI prefixes, so that nothing
    changes for code that does not ask for it by name
    (``backend_args=dict(backend='ftan_atomic_local')``).
    """

    def put(self, obj: bytes, filepath) -> None:
        """Write bytes to ``filepath`` through a temporary file.

        Args:
            obj (bytes): Data to be written.
            filepath (str or Path): The final file name.
        """
        atomic_write_bytes(obj, str(filepath))

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` through a temporary file.

        Args:
            obj (str): Text to be written.
            filepath (str or Path): The final file name.
            encoding (str): Text encoding. Defaults to 'utf-8'.
        """
        atomic_write_text(obj, str(filepath), encoding)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with atomic checkpoint files and a checkpoint on
    SIGTERM.

    All arguments of mmengine's ``CheckpointHook`` apply; ``backend_args``
    defaults to :class:`AtomicLocalBackend` (another backend may be given
    for remote storage, then writes are as atomic as that backend makes
    them).

    On SIGTERM the handler only records the signal; after the current
    training iteration the hook saves ``iter_<N>.pth`` (unless this
    iteration just saved one), points ``last_checkpoint`` at it (written
    atomically) and ends the process with :data:`REQUEUE_STATUS`. In a
    distributed run the ranks agree on the signal each iteration (one
    all-reduce of a flag), so that they stop at the same iteration. The
    handler is installed for the training loop only (``before_train`` to
    ``after_train``) and in the main thread; iteration-based loops only.

    Args:
        exit_on_sigterm (bool): Save and exit on SIGTERM. Defaults to True.
        **kwargs: ``CheckpointHook`` arguments.
    """

    def __init__(self, exit_on_sigterm: bool = True, **kwargs):
        kwargs.setdefault('backend_args', dict(backend=ATOMIC_BACKEND))
        super().__init__(**kwargs)
        self.exit_on_sigterm = exit_on_sigterm
        self._signalled = False
        self._previous_handler = None

    def _on_sigterm(self, signum, frame) -> None:
        self._signalled = True

    def before_train(self, runner) -> None:
        """Set up the checkpoint folder; install the SIGTERM handler."""
        super().before_train(runner)
        if self.exit_on_sigterm and \
                threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGTERM,
                                                   self._on_sigterm)

    def after_train(self, runner) -> None:
        """Publish checkpoints; restore the previous SIGTERM handler."""
        self._restore_handler()
        super().after_train(runner)

    def _restore_handler(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGTERM, self._previous_handler)
            self._previous_handler = None

    def _signal_received(self) -> bool:
        """Whether any rank got SIGTERM (all ranks get the same answer)."""
        if not is_distributed():
            return self._signalled
        flag = torch.tensor([float(self._signalled)])
        if torch.distributed.get_backend() == 'nccl':
            flag = flag.cuda()
        all_reduce(flag, op='max')
        return bool(flag.item())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        """Save by the interval; on SIGTERM save and exit for requeueing."""
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        if self.by_epoch or not self.exit_on_sigterm or \
                not self._signal_received():
            return
        step = runner.iter + 1
        filename = self.filename_tmpl.format(step)
        path = self.file_backend.join_path(self.out_dir, filename)
        if self.last_ckpt != path:
            runner.save_checkpoint(
                self.out_dir, filename, self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=dict(epoch=runner.epoch, iter=step), by_epoch=False,
                backend_args=self.backend_args, **self.args)
            self.last_ckpt = path
            runner.message_hub.update_info('last_ckpt', path)
            if is_main_process():
                atomic_write_text(
                    path, osp.join(runner.work_dir, 'last_checkpoint'))
        self._restore_handler()
        runner.logger.warning(
            f'SIGTERM: saved {path} after iteration {step} of '
            f'{runner.max_iters}; exiting with status {REQUEUE_STATUS} '
            '(resubmit with --resume to continue)')
        raise SystemExit(REQUEUE_STATUS)
