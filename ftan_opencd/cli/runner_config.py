"""The config of ``tools/train.py`` and ``tools/test.py``: loaded with the
options every runner tool accepts, and the checkpoint fit check added."""
import os.path as osp
from typing import Optional, Tuple

from mmengine.config import Config

from ..datasets import set_data_root
from ..errors import UserError
from ..utils.user_errors import check_config_path
from .config_checks import check_baked_variables, check_runnable


def load_config(path: str,
                launcher: str = 'none',
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                data_root: Optional[str] = None,
                purpose: Optional[str] = None) -> Config:
    """Load ``path`` and apply the options every tool accepts.

    A top-level ``data_root`` in ``cfg_options`` is the same as
    ``data_root``: OpenMMLab copies the config variable into the dataloaders
    when the file is parsed, so merging it would silently change nothing.
    The data root is applied before the other ``cfg_options``, so that e.g.
    ``train_dataloader.dataset.data_root=...`` can still point one split
    elsewhere.

    Args:
        path (str): Config file.
        launcher (str): ``none``, ``pytorch``, ``slurm`` or ``mpi``.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        work_dir (str, optional): Output folder; defaults to the config's
            ``work_dir`` or ``./work_dirs/<config name>`` as in open-cd.
        data_root (str, optional): ``--data-root``: one folder in LEVIR-CD
            layout for the train, val and test dataloaders (see
            :func:`~ftan_opencd.datasets.set_data_root`).
        purpose (str, optional): ``'train'`` or ``'test'``: check that the
            config defines what that tool runs (:func:`check_runnable`).

    Returns:
        Config: The config, ready for ``Runner.from_cfg``.

    Raises:
        FileNotFoundError: The config file or the data root does not exist.
        UserError: ``path`` is not a config file (e.g. a checkpoint), the
            config cannot run for ``purpose``, ``cfg_options`` sets a
            top-level variable that would have no effect, or a
            ``data_root`` that contradicts ``data_root``.
    """
    check_config_path(path)
    cfg = Config.fromfile(path)
    if purpose is not None:
        check_runnable(cfg, path, purpose)
    cfg.launcher = launcher
    options = dict(cfg_options or {})
    root, option = _pop_data_root(options, data_root)
    check_baked_variables(options)
    if root is not None:
        set_data_root(cfg, root, option)
    if options:
        cfg.merge_from_dict(options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg


def _pop_data_root(options: dict,
                   data_root: Optional[str]) -> Tuple[Optional[str], str]:
    """Take a top-level ``data_root`` out of ``options``.

    Args:
        options (dict): ``--cfg-options`` (modified in place).
        data_root (str, optional): ``--data-root``.

    Returns:
        tuple[str | None, str]: The data root to apply and the option that
        gave it (for messages).

    Raises:
        UserError: Both give a data root and they differ.
    """
    option_root = options.pop('data_root', None)
    if option_root is None:
        return data_root, '--data-root'
    if data_root is not None and data_root != option_root:
        raise UserError(
            f'--data-root {data_root} and --cfg-options data_root='
            f'{option_root} disagree: give the data folder once')
    return str(option_root), '--cfg-options data_root'


def add_fit_check(cfg: Config, strict: bool, source: str) -> None:
    """Append a ``CheckpointFitHook`` to ``cfg.custom_hooks``.

    Args:
        cfg (Config): The config, modified in place.
        strict (bool): Stop on weights that do not fit the model (else log
            them).
        source (str): The checkpoint, for the messages.
    """
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='CheckpointFitHook', strict=strict, source=source)
    ]
