"""Binary change-detection dataset that validates its folders before use."""
import os.path as osp
from typing import Dict, List, Optional, Set, Tuple

import mmengine
import mmengine.fileio as fileio
from mmengine.logging import print_log

from opencd.datasets.basecddataset import _BaseCDDataset
from opencd.registry import DATASETS
from ..pixels import load_label, load_pair
from ..utils.user_errors import UserError
from .transforms.loading import (CDConformPixels, CDLoadChangeLabel,
                                 CDLoadImagePair)

MAX_LISTED_NAMES = 10
DEFAULT_CHANNELS = 3


@DATASETS.register_module()
class CheckedCDDataset(_BaseCDDataset):
    """LEVIR-CD style dataset (A/, B/, label/ folders) with upfront checks.

    The layout, arguments and data-info keys are those of open-cd's
    ``_BaseCDDataset`` (``data_prefix`` keys ``img_path_from``,
    ``img_path_to`` and, for labelled data, ``seg_map_path``). When the data
    list is built (at construction, i.e. before training starts) it raises:

    - ``ValueError`` if ``img_path_from``/``img_path_to`` is not set;
    - ``FileNotFoundError`` naming the folder if a folder, or the split file
      ``ann_file``, does not exist;
    - ``ValueError`` naming the folder (or split file) if the split is empty;
    - ``FileNotFoundError`` listing up to 10 names and the folder if a
      sample lacks its A image, its B image or its label (same name, with
      ``img_suffix``/``seg_map_suffix``).

    With ``verify_images=True`` it also decodes every image pair and label
    once, by the pixel rules the pipeline applies (its ``channels``,
    ``max_value`` and ``label_threshold``, else 3 channels), and raises one
    ``UserError`` (a ``ValueError``) listing the files that cannot be read:
    empty, corrupt, a label with other values than {0, 255} / {0, 1}, dates
    of different sizes. ``tools/train.py`` turns it on for the validation
    and test sets, so that a bad file stops the run before training, not
    at the first validation hours later; ``tools/test.py`` for the test
    set, so that it stops before the test loop.

    Without ``ann_file`` the split is every image found (recursively) in the
    A and B folders, so an image present in only one of them is an error.
    Leave ``seg_map_path`` out of ``data_prefix`` for unlabelled data. Pair
    it with ``CDLoadChangeLabel``, which validates label values; the
    ``format_seg_map`` argument only matters for open-cd's own loader.

    Args:
        img_suffix (str): Suffix of the A/B images. Defaults to '.png'.
        seg_map_suffix (str): Suffix of the labels. Defaults to '.png'.
        data_prefix (dict, optional): Folders ``img_path_from``,
            ``img_path_to`` and optionally ``seg_map_path``, relative to
            ``data_root``. Defaults to
            ``dict(img_path_from='A', img_path_to='B', seg_map_path='label')``.
        verify_images (bool): Decode every image and label once when the
            data list is built (see above). Defaults to False.
        **kwargs: Other arguments of open-cd's ``_BaseCDDataset``
            (``data_root``, ``ann_file``, ``pipeline``, ``test_mode``, ...).
    """
    METAINFO = dict(
        classes=('unchanged', 'changed'),
        palette=[[0, 0, 0], [255, 255, 255]])

    def __init__(self,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 data_prefix: Optional[Dict[str, str]] = None,
                 verify_images: bool = False,
                 **kwargs) -> None:
        # Set first: the base class builds the data list (full_init).
        self.verify_images = verify_images
        if data_prefix is None:
            data_prefix = dict(
                img_path_from='A', img_path_to='B', seg_map_path='label')
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            data_prefix=data_prefix,
            **kwargs)

    def _folder(self, key: str) -> str:
        """Return ``data_prefix[key]`` after checking the folder exists."""
        folder = self.data_prefix.get(key)
        if not folder:
            raise ValueError(f'{type(self).__name__}: data_prefix["{key}"] '
                             'is not set')
        if not fileio.isdir(folder, backend_args=self.backend_args):
            raise FileNotFoundError(f'{type(self).__name__}: folder '
                                    f'data_prefix["{key}"] not found: '
                                    f'{folder}')
        return folder

    def _names_in(self, folder: str, suffix: str) -> Set[str]:
        """Relative paths without ``suffix`` of the files in ``folder``."""
        files = fileio.list_dir_or_file(
            folder,
            list_dir=False,
            suffix=suffix,
            recursive=True,
            backend_args=self.backend_args)
        return {name[:len(name) - len(suffix)] for name in files}

    def _split_names(self, names_from: Set[str],
                     names_to: Set[str]) -> List[str]:
        """Names of the split: from ``ann_file`` or from the A/B folders."""
        if self.ann_file:
            if not fileio.isfile(self.ann_file,
                                 backend_args=self.backend_args):
                raise FileNotFoundError(f'{type(self).__name__}: split file '
                                        f'ann_file not found: {self.ann_file}')
            lines = mmengine.list_from_file(
                self.ann_file, backend_args=self.backend_args)
            names = [line.strip() for line in lines if line.strip()]
            if not names:
                raise ValueError(f'{type(self).__name__}: split file '
                                 f'{self.ann_file} lists no samples')
            return names
        names = sorted(names_from | names_to)
        if not names:
            raise ValueError(
                f'{type(self).__name__}: empty split, no *{self.img_suffix} '
                f'images in {self.data_prefix["img_path_from"]} or '
                f'{self.data_prefix["img_path_to"]}')
        return names

    def _require(self, names: List[str], available: Set[str], folder: str,
                 suffix: str) -> None:
        """Raise if some ``names`` have no ``suffix`` file in ``folder``."""
        missing = [name for name in names if name not in available]
        if missing:
            listed = ', '.join(name + suffix
                               for name in missing[:MAX_LISTED_NAMES])
            more = ', ...' if len(missing) > MAX_LISTED_NAMES else ''
            raise FileNotFoundError(
                f'{type(self).__name__}: {len(missing)} of {len(names)} '
                f'samples have no file in {folder}: {listed}{more}')

    def load_data_list(self) -> List[dict]:
        """Validate the folders and list the samples.

        Returns:
            list[dict]: One data info per sample (in split-file order, else
            sorted by name) with ``img_path`` (A and B
            files), ``seg_map_path`` (labelled data), ``label_map``,
            ``format_seg_map``, ``reduce_zero_label`` and ``seg_fields``.
        """
        dir_from = self._folder('img_path_from')
        dir_to = self._folder('img_path_to')
        dir_label = (self._folder('seg_map_path')
                     if 'seg_map_path' in self.data_prefix else None)
        names_from = self._names_in(dir_from, self.img_suffix)
        names_to = self._names_in(dir_to, self.img_suffix)
        names = self._split_names(names_from, names_to)
        self._require(names, names_from, dir_from, self.img_suffix)
        self._require(names, names_to, dir_to, self.img_suffix)
        if dir_label is not None:
            self._require(names, self._names_in(dir_label,
                                                self.seg_map_suffix),
                          dir_label, self.seg_map_suffix)

        data_list = []
        for name in names:
            file_name = name + self.img_suffix
            data_info = dict(img_path=[
                fileio.join_path(dir_from, file_name,
                                 backend_args=self.backend_args),
                fileio.join_path(dir_to, file_name,
                                 backend_args=self.backend_args)
            ])
            if dir_label is not None:
                data_info['seg_map_path'] = fileio.join_path(
                    dir_label,
                    name + self.seg_map_suffix,
                    backend_args=self.backend_args)
            data_info['label_map'] = self.label_map
            data_info['format_seg_map'] = self.format_seg_map
            data_info['reduce_zero_label'] = self.reduce_zero_label
            data_info['seg_fields'] = []
            data_list.append(data_info)
        print_log(
            f'{type(self).__name__}: {len(data_list)} samples checked in '
            f'{dir_from}', logger='current')
        return data_list

    def full_init(self) -> None:
        """Build the data list; then decode it once if ``verify_images``."""
        if self._fully_initialized:
            return
        super().full_init()
        if self.verify_images:
            self.check_images()

    def pixel_rules(self) -> Tuple[int, Optional[float], Optional[float]]:
        """The pipeline's ``channels``, ``max_value`` and
        ``label_threshold`` (3, None, None where it sets none)."""
        channels, max_value, threshold = DEFAULT_CHANNELS, None, None
        for transform in self.pipeline.transforms:
            if isinstance(transform, (CDLoadImagePair, CDConformPixels)):
                channels = transform.channels
                max_value = transform.max_value
            elif isinstance(transform, CDLoadChangeLabel):
                threshold = transform.label_threshold
        return channels, max_value, threshold

    def _sample_error(self, info: dict, channels: int,
                      max_value: Optional[float],
                      threshold: Optional[float]) -> Optional[str]:
        """Why a sample cannot be read, or None.

        Args:
            info (dict): Its data info (``img_path``, ``seg_map_path``).
            channels (int): Channels per date.
            max_value (float, optional): See ``CDLoadImagePair``.
            threshold (float, optional): See ``CDLoadChangeLabel``.

        Returns:
            str | None: The first problem, naming the file.
        """
        try:
            imgs = load_pair(info['img_path'], channels, max_value)
            if info.get('seg_map_path'):
                label = load_label(info['seg_map_path'], threshold)
                if label.shape != imgs[0].shape[:2]:
                    return (f'change label {info["seg_map_path"]} is '
                            f'{label.shape[0]}x{label.shape[1]} but its '
                            f'images are {imgs[0].shape[0]}x'
                            f'{imgs[0].shape[1]}')
        except (ValueError, OSError) as exc:
            return str(exc).splitlines()[0]
        return None

    def check_images(self) -> None:
        """Decode every image pair and label once.

        Raises:
            UserError: Listing up to 10 unreadable samples with the reason
                and the number of bad samples.
        """
        rules = self.pixel_rules()
        problems = []
        for index in range(len(self)):
            problem = self._sample_error(self.get_data_info(index), *rules)
            if problem:
                problems.append(problem)
        folder = self.data_prefix.get('img_path_from')
        if problems:
            listed = '; '.join(problems[:MAX_LISTED_NAMES])
            more = ('; ...' if len(problems) > MAX_LISTED_NAMES else '')
            raise UserError(
                f'{type(self).__name__}: {len(problems)} of {len(self)} '
                f'samples of {osp.dirname(folder)} cannot be read: '
                f'{listed}{more}. Replace or remove these files (or skip '
                'this check: --no-verify of tools/train.py or tools/test.py)')
        print_log(
            f'{type(self).__name__}: {len(self)} samples of '
            f'{osp.dirname(folder)} decoded (verify_images)',
            logger='current')
