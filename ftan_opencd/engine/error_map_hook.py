"""Test-time hook writing Fig.-4-style error maps of every prediction."""
import os.path as osp
from typing import Optional, Sequence

import mmcv
import numpy as np
from mmengine.hooks import Hook
from mmengine.utils import mkdir_or_exist

from opencd.registry import HOOKS
from ..pixels import display_image
from .error_map import error_map


def date_images(inputs, channels: int) -> list:
    """The two dates of a packed sample (2C, H, W) as HxWxC arrays: the
    pixels the test pipeline gave the model."""
    array = inputs.permute(1, 2, 0).cpu().numpy()
    return [array[..., :channels], array[..., channels:]]


@HOOKS.register_module()
class ChangeErrorMapHook(Hook):
    """Save ``t1 | t2 | error map`` panels during ``runner.test()``.

    The error map shows correctly detected change white, false detections
    green and missed detections red (the paper's Fig. 4). The two dates
    are drawn from the test pipeline's output, i.e. the pixels the model
    received (first 3 channels), not from a second reading of the files.
    Files are named after the t1 image and written to ``out_dir``.

    Args:
        out_dir (str): Output folder; relative paths are placed under the
            runner's log directory.
        max_images (int, optional): Stop after this many images.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str = 'error_maps',
                 max_images: Optional[int] = None):
        self.out_dir = out_dir
        self.max_images = max_images
        self._written = 0

    def before_test(self, runner) -> None:
        if not osp.isabs(self.out_dir):
            self.out_dir = osp.join(runner.log_dir, self.out_dir)
        mkdir_or_exist(self.out_dir)
        self._written = 0

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        for inputs, sample in zip(data_batch['inputs'], outputs or []):
            if self.max_images is not None and \
                    self._written >= self.max_images:
                return
            pred = sample.pred_sem_seg.data.squeeze(0).cpu().numpy()
            gt = sample.gt_sem_seg.data.squeeze(0).cpu().numpy()
            panel = [
                mmcv.imresize(display_image(img), pred.shape[::-1])
                for img in date_images(inputs, inputs.shape[0] // 2)
            ] + [error_map(pred, gt)]
            name = osp.splitext(osp.basename(sample.img_path[0]))[0] + '.png'
            mmcv.imwrite(np.concatenate(panel, axis=1),
                         osp.join(self.out_dir, name))
            self._written += 1
