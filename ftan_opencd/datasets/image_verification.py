"""Turn on :class:`CheckedCDDataset`'s ``verify_images`` in a config, so
that a bad val/test file stops a tool before its loop, naming the file."""
import logging
from typing import List, Tuple

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from opencd.registry import DATASETS
from .cd_dataset import CheckedCDDataset
from .data_roots import split_datasets


def _is_checked_dataset(dataset: ConfigDict) -> bool:
    """Whether a data set config builds a ``CheckedCDDataset``.

    Args:
        dataset (ConfigDict): A data set config.

    Returns:
        bool: Its ``type`` is :class:`CheckedCDDataset` or a subclass (the
        types that take ``verify_images``).
    """
    kind = dataset.get('type')
    cls = kind if isinstance(kind, type) else (
        DATASETS.get(kind) if isinstance(kind, str) else None)
    return isinstance(cls, type) and issubclass(cls, CheckedCDDataset)


def enable_image_verification(
        cfg: Config, splits: Tuple[str, ...] = ('val', 'test')) -> List[str]:
    """Decode the splits' images once when their data sets are built.

    Sets ``verify_images=True`` on each ``CheckedCDDataset`` of the splits
    (see :class:`~ftan_opencd.datasets.CheckedCDDataset`).

    Args:
        cfg (Config): The config, modified in place.
        splits (tuple[str]): The splits to verify.

    Returns:
        list[str]: The splits whose data sets were all set to verify.
        Data sets of other types are logged as not verified.
    """
    enabled = []
    for split in splits:
        datasets = split_datasets(cfg, split)
        for dataset in datasets:
            if _is_checked_dataset(dataset):
                dataset.verify_images = True
            else:
                print_log(f'{split} images are not verified before use: '
                          f'{dataset.get("type")} is not a CheckedCDDataset',
                          logger='current', level=logging.WARNING)
        if datasets and all(d.get('verify_images') for d in datasets):
            enabled.append(split)
    return enabled
