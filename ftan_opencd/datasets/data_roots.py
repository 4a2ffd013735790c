"""Which folders the train, val and test data sets read.

``--data-root`` points every split at one folder in LEVIR-CD layout
(:func:`set_data_root`); the benchmark points one split elsewhere
(:func:`set_split_root`); the tools log the folders they read
(:func:`log_data_roots`). Data sets inside wrappers (``dataset`` /
``datasets``) are reached through :func:`split_datasets`.
"""
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional, Tuple

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

DATA_SPLITS = ('train', 'val', 'test')
# Top-level config variables that name data folders. The dataloaders copied
# their values when the file was parsed; a data root override updates them
# too, so that the config dumped into the work dir tells the truth.
ROOT_VARIABLES = ('data_root', 'tile_root')


def _leaf_datasets(dataset: ConfigDict) -> Iterator[ConfigDict]:
    """The data set configs inside wrappers (``dataset`` / ``datasets``).

    Args:
        dataset (ConfigDict): A dataloader's ``dataset``.

    Yields:
        ConfigDict: Each data set config that reads files.
    """
    if dataset.get('datasets') is not None:
        for child in dataset.datasets:
            yield from _leaf_datasets(child)
    elif dataset.get('dataset') is not None:
        yield from _leaf_datasets(dataset.dataset)
    else:
        yield dataset


def split_datasets(cfg: Config, split: str) -> List[ConfigDict]:
    """The data set configs of ``<split>_dataloader`` (none if disabled).

    Args:
        cfg (Config): The config.
        split (str): ``train``, ``val`` or ``test``.

    Returns:
        list[ConfigDict]: The split's data set configs.
    """
    loader = cfg.get(f'{split}_dataloader')
    if not loader or not loader.get('dataset'):
        return []
    return list(_leaf_datasets(loader.dataset))


def set_data_root(cfg: Config, root: str,
                  option: str = '--data-root') -> None:
    """Point the train, val and test data sets at one folder.

    The folder has the LEVIR-CD layout (``train/A``, ``train/B``,
    ``train/label``, ``val/...``, ``test/...``); each data set keeps its
    ``data_prefix``. This replaces e.g. the LEVIR-CD configs' separate
    ``tile_root`` for training.

    Args:
        cfg (Config): The config, modified in place.
        root (str): The data folder.
        option (str): The option that gave ``root``, for the error message.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    if not osp.isdir(root):
        raise FileNotFoundError(
            f'{option} {root}: folder not found. Give a folder in LEVIR-CD '
            'layout: train/A, train/B, train/label, and the same under val/ '
            'and test/')
    for split in DATA_SPLITS:
        for dataset in split_datasets(cfg, split):
            dataset.data_root = root
    for key in ROOT_VARIABLES:
        if key in cfg:
            cfg[key] = root


def set_split_root(cfg: Config, split: str, root: str,
                   folder: Optional[str] = None) -> None:
    """Point one split's data sets at ``root``.

    Args:
        cfg (Config): The config, modified in place.
        split (str): ``train``, ``val`` or ``test``.
        root (str): The data root.
        folder (str, optional): The split's folder inside ``root`` (e.g.
            ``'test'``, or ``''`` for ``root/{A,B,label}``); None keeps the
            data sets' ``data_prefix``.
    """
    for dataset in split_datasets(cfg, split):
        dataset.data_root = root
        if folder is not None:
            dataset.data_prefix = dict(
                img_path_from=osp.join(folder, 'A'),
                img_path_to=osp.join(folder, 'B'),
                seg_map_path=osp.join(folder, 'label'))


def data_roots(cfg: Config) -> Dict[str, List[str]]:
    """The data roots that each split reads.

    Args:
        cfg (Config): The config.

    Returns:
        dict[str, list[str]]: ``{split: [data_root, ...]}`` for the splits
        that have a dataloader.
    """
    roots = {}
    for split in DATA_SPLITS:
        datasets = split_datasets(cfg, split)
        if datasets:
            roots[split] = [str(d.get('data_root', '')) for d in datasets]
    return roots


def log_data_roots(cfg: Config, splits: Tuple[str, ...] = DATA_SPLITS) -> None:
    """Log at INFO which folder each split reads (rank 0 only).

    Args:
        cfg (Config): The config.
        splits (tuple[str]): The splits the tool uses.
    """
    if int(os.environ.get('RANK', '0')) != 0:
        return
    for split, roots in data_roots(cfg).items():
        if split not in splits:
            continue
        for root in roots:
            absolute = osp.abspath(root)
            shown = root if absolute == root else f'{root} ({absolute})'
            print_log(f'{split} data root: {shown}', logger='current')
