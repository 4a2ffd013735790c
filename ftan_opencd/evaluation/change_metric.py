"""Confusion-matrix metric for binary change detection.

Conventions (so that no metric is ever NaN):

* A ratio whose denominator is zero because the class was neither present in
  the ground truth nor predicted (TP = FP = FN = 0) is 100: there was nothing
  to find and nothing was wrongly found. Any other zero denominator (e.g. no
  pixel predicted as changed although the ground truth has changes) gives 0.
* Kappa is 100 when chance agreement is 1 (ground truth and prediction are the
  same single class everywhere), the only case where it is 0/0.
* An evaluation without any valid pixel (all ignored) returns 0 everywhere.
* ``mIoU`` averages the per-class IoU over the classes that occur in the
  ground truth or the prediction, as mmseg's ``IoUMetric`` does.

Object-level scores (``ChangeMetric(object_iou=0.5)``, off by default): the
objects are the connected components of changed pixels (4-connectivity by
default, as in the change polygons of :mod:`ftan_opencd.apis.vectorize`) of
the prediction and of the ground truth of each image, ignored pixels left
out of both. A predicted object matches a labelled one when their IoU is at
least ``object_iou``; pairs are matched one-to-one, greedily by decreasing
IoU (for ``object_iou > 0.5`` an object can overlap only one other that
much, so this is the optimal matching). ``object_precision`` is matched /
predicted objects, ``object_recall`` matched / labelled objects and
``object_F1`` 2 matched / (predicted + labelled), summed over the images,
with the same conventions (no object anywhere: 100).
"""
import logging
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from opencd.registry import METRICS
from prettytable import PrettyTable
from scipy import ndimage

DEFAULT_CLASSES = ('unchanged', 'changed')


def _ratio(num: np.ndarray, den: np.ndarray, absent: np.ndarray) -> np.ndarray:
    """Element-wise ``num / den`` in percent with the module's conventions.

    Args:
        num (np.ndarray): Numerators.
        den (np.ndarray): Denominators (non-negative).
        absent (np.ndarray): True where the class is in neither ground truth
            nor prediction; a zero denominator there yields 100, else 0.

    Returns:
        np.ndarray: The ratios in percent.
    """
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.where(absent, 100.0, 0.0)
    np.divide(100.0 * num, den, out=out, where=den > 0)
    return out


def class_scores(confusion: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and IoU of a confusion matrix.

    Args:
        confusion (np.ndarray): ``(C, C)`` matrix, rows are ground-truth
            classes and columns predicted classes.

    Returns:
        dict[str, np.ndarray]: ``precision``, ``recall``, ``F1`` and ``IoU``
        arrays of length C in percent, plus ``present`` (bool, class occurs in
        the ground truth or the prediction).
    """
    tp = np.diag(confusion).astype(np.float64)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    absent = (tp + fp + fn) == 0
    return dict(
        precision=_ratio(tp, tp + fp, absent),
        recall=_ratio(tp, tp + fn, absent),
        F1=_ratio(2 * tp, 2 * tp + fp + fn, absent),
        IoU=_ratio(tp, tp + fp + fn, absent),
        present=~absent)


def overall_scores(confusion: np.ndarray) -> Tuple[float, float]:
    """Overall accuracy and Cohen's kappa of a confusion matrix, in percent.

    Args:
        confusion (np.ndarray): ``(C, C)`` matrix, rows are ground truth.

    Returns:
        tuple[float, float]: ``(OA, Kappa)``; both 0 for an empty matrix.
    """
    total = float(confusion.sum())
    if total == 0:
        return 0.0, 0.0
    observed = np.trace(confusion) / total
    chance = float(
        (confusion.sum(axis=0) * confusion.sum(axis=1)).sum()) / total**2
    if chance >= 1.0:
        kappa = 1.0 if observed >= 1.0 else 0.0
    else:
        kappa = (observed - chance) / (1.0 - chance)
    return 100.0 * observed, 100.0 * kappa


def label_objects(mask: np.ndarray, connectivity: int = 4):
    """Connected components of a boolean mask.

    Args:
        mask (np.ndarray): (H, W) bool.
        connectivity (int): 4 (edges) or 8 (edges and corners).

    Returns:
        tuple[np.ndarray, int]: int32 labels (0 = background) and their
        count.
    """
    structure = ndimage.generate_binary_structure(
        2, 1 if connectivity == 4 else 2)
    return ndimage.label(mask, structure=structure)


def match_objects(pred: np.ndarray, gt: np.ndarray, iou: float,
                  connectivity: int = 4) -> np.ndarray:
    """Count the predicted objects that match a labelled object.

    Args:
        pred (np.ndarray): (H, W) bool predicted change.
        gt (np.ndarray): (H, W) bool labelled change.
        iou (float): Smallest IoU of a match.
        connectivity (int): 4 or 8, see :func:`label_objects`.

    Returns:
        np.ndarray: int64 ``[matched, predicted, labelled]`` object counts;
        matches are one-to-one, greedy by decreasing IoU.
    """
    pred_labels, num_pred = label_objects(pred, connectivity)
    gt_labels, num_gt = label_objects(gt, connectivity)
    if num_pred == 0 or num_gt == 0:
        return np.array([0, num_pred, num_gt], np.int64)
    pred_area = np.bincount(pred_labels.ravel(), minlength=num_pred + 1)
    gt_area = np.bincount(gt_labels.ravel(), minlength=num_gt + 1)
    both = (pred_labels > 0) & (gt_labels > 0)
    codes = pred_labels[both].astype(np.int64) * (num_gt + 1) + \
        gt_labels[both]
    codes, inter = np.unique(codes, return_counts=True)
    p, g = np.divmod(codes, num_gt + 1)
    ious = inter / (pred_area[p] + gt_area[g] - inter)
    matched, used_pred, used_gt = 0, set(), set()
    for k in np.argsort(-ious, kind='stable'):
        if ious[k] < iou:
            break
        if p[k] not in used_pred and g[k] not in used_gt:
            used_pred.add(p[k])
            used_gt.add(g[k])
            matched += 1
    return np.array([matched, num_pred, num_gt], np.int64)


def object_scores(counts: np.ndarray) -> Dict[str, float]:
    """Object precision, recall and F1 in percent.

    Args:
        counts (np.ndarray): ``[matched, predicted, labelled]`` objects.

    Returns:
        dict[str, float]: ``object_precision``, ``object_recall`` and
        ``object_F1`` (100 when there is no object at all).
    """
    matched, predicted, labelled = (float(c) for c in counts)
    absent = predicted + labelled == 0
    return dict(
        object_precision=float(_ratio(matched, predicted, absent)),
        object_recall=float(_ratio(matched, labelled, absent)),
        object_F1=float(_ratio(2 * matched, predicted + labelled, absent)))


@METRICS.register_module()
class ChangeMetric(BaseMetric):
    """Binary change-detection metric from an accumulated confusion matrix.

    ``compute_metrics`` returns a flat dict with the changed class's
    ``precision``, ``recall``, ``F1`` and ``IoU``, plus ``OA``, ``Kappa`` and
    ``mIoU``, all in percent rounded to 2 decimals, so that
    ``CheckpointHook(save_best='F1', rule='greater')`` works. See the module
    docstring for the zero-division conventions. A warning is logged when
    every prediction of the whole run is the same class (collapsed model).

    Args:
        changed_index (int): Index of the "changed" class. Defaults to 1.
        ignore_index (int): Ground-truth value excluded from evaluation.
            Defaults to 255.
        collect_device (str): Device used to gather results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names: mmengine logs
            ``<prefix>/F1`` etc. Defaults to None, i.e.
            :attr:`default_prefix`.
        object_iou (float, optional): Also compute ``object_precision``,
            ``object_recall`` and ``object_F1``, a predicted object matching
            a labelled one at IoU >= ``object_iou`` (e.g. 0.5; see the
            module docstring). Defaults to None (pixel metrics only).
        object_connectivity (int): 4 or 8, the connectivity of the objects.
            Defaults to 4.
    """

    # No prefix: the keys stay ``F1``, ``IoU``, ... as the configs'
    # ``save_best='F1'``, the best checkpoint names (``best_F1_iter_N.pth``)
    # and the benchmark read them. mmengine prefixes only a non-empty prefix
    # and warns only when the prefix is None ("The prefix is not set ...").
    default_prefix: Optional[str] = ''

    def __init__(self,
                 changed_index: int = 1,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 object_iou: Optional[float] = None,
                 object_connectivity: int = 4) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if object_iou is not None and (
                isinstance(object_iou, bool)
                or not isinstance(object_iou, (int, float))
                or not 0 < object_iou <= 1):
            raise ValueError('object_iou must be an IoU in (0, 1], e.g. 0.5, '
                             f'or None; got {object_iou!r}')
        if object_connectivity not in (4, 8):
            raise ValueError('object_connectivity must be 4 or 8, got '
                             f'{object_connectivity!r}')
        self.changed_index = changed_index
        self.ignore_index = ignore_index
        self.object_iou = object_iou
        self.object_connectivity = object_connectivity

    @property
    def class_names(self) -> Tuple[str, ...]:
        """tuple[str]: Class names from ``dataset_meta`` (default binary)."""
        meta = self.dataset_meta or {}
        return tuple(meta.get('classes', DEFAULT_CLASSES))

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Accumulate the confusion matrix and prediction histogram of a batch.

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs holding
                ``pred_sem_seg.data`` and ``gt_sem_seg.data``.
        """
        num_classes = len(self.class_names)
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze().long()
            gt = sample['gt_sem_seg']['data'].squeeze().to(pred)
            valid = gt != self.ignore_index
            if valid.any() and int(gt[valid].max()) >= num_classes:
                raise ValueError(
                    f'ground-truth value {int(gt[valid].max())} is not a '
                    f'class index (< {num_classes}) nor ignore_index '
                    f'{self.ignore_index}; are 0/255 labels loaded without '
                    "format_seg_map='to_binary'?")
            pairs = gt[valid] * num_classes + pred[valid]
            confusion = torch.bincount(
                pairs, minlength=num_classes**2).reshape(
                    num_classes, num_classes)
            pred_hist = torch.bincount(
                pred.flatten(), minlength=num_classes)[:num_classes]
            result = (confusion.cpu().numpy(), pred_hist.cpu().numpy())
            if self.object_iou is not None:
                result += (self._objects(sample, valid), )
            self.results.append(result)

    def _objects(self, sample: dict, valid: torch.Tensor) -> np.ndarray:
        """``[matched, predicted, labelled]`` objects of one image."""
        shape = sample['gt_sem_seg']['data'].shape[-2:]
        pred = sample['pred_sem_seg']['data'].reshape(shape).cpu().numpy()
        gt = sample['gt_sem_seg']['data'].reshape(shape).cpu().numpy()
        valid = valid.reshape(shape).cpu().numpy()
        return match_objects((pred == self.changed_index) & valid,
                             (gt == self.changed_index) & valid,
                             self.object_iou, self.object_connectivity)

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Compute the metrics from the per-image results of all ranks.

        Args:
            results (list[tuple]): ``(confusion, prediction histogram)`` per
                image (and the object counts with ``object_iou``), as
                appended by :meth:`process`.

        Returns:
            dict[str, float]: ``precision``, ``recall``, ``F1``, ``IoU`` (of
            the changed class), ``OA``, ``Kappa`` and ``mIoU`` (then
            ``object_precision``, ``object_recall`` and ``object_F1`` with
            ``object_iou``).
        """
        names = self.class_names
        num_classes = len(names)
        confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
        pred_hist = np.zeros(num_classes, dtype=np.int64)
        objects = np.zeros(3, dtype=np.int64)
        for image_result in results:
            confusion += image_result[0]
            pred_hist += image_result[1]
            if self.object_iou is not None:
                objects += image_result[2]
        self._warn_if_collapsed(pred_hist, len(results))

        scores = class_scores(confusion)
        oa, kappa = overall_scores(confusion)
        if confusion.sum() == 0:
            print_log('ChangeMetric: no valid (non-ignored) pixel was '
                      'evaluated; all metrics are 0.', 'current',
                      logging.WARNING)
            scores = {k: np.zeros_like(v) for k, v in scores.items()}
        self._log_table(names, scores)

        present = scores['present']
        miou = float(scores['IoU'][present].mean()) if present.any() else 0.0
        c = self.changed_index
        metrics = OrderedDict(
            precision=scores['precision'][c],
            recall=scores['recall'][c],
            F1=scores['F1'][c],
            IoU=scores['IoU'][c],
            OA=oa,
            Kappa=kappa,
            mIoU=miou)
        if self.object_iou is not None:
            metrics.update(object_scores(objects))
            print_log(
                f'objects (IoU >= {self.object_iou}, '
                f'{self.object_connectivity}-connected): {objects[0]} '
                f'matched of {objects[1]} predicted and {objects[2]} '
                'labelled', 'current')
        return {k: round(float(v), 2) for k, v in metrics.items()}

    def _warn_if_collapsed(self, pred_hist: np.ndarray,
                           num_images: int) -> None:
        """Log a warning when all predicted pixels belong to one class.

        Args:
            pred_hist (np.ndarray): Number of predicted pixels per class.
            num_images (int): Number of evaluated images.
        """
        predicted = np.flatnonzero(pred_hist)
        if len(predicted) != 1:
            return
        name = self.class_names[predicted[0]]
        print_log(
            f"all predictions were '{name}' for {num_images} images: the "
            'model may have collapsed to a single class (all-'
            f"{'black' if predicted[0] != self.changed_index else 'white'} "
            'change maps). Check the labels (0/255 with '
            "format_seg_map='to_binary' or 0/1), the class weights of the "
            'loss and the learning rate.', 'current', logging.WARNING)

    @staticmethod
    def _log_table(names: Sequence[str],
                   scores: Dict[str, np.ndarray]) -> None:
        """Log the per-class scores as a table.

        Args:
            names (Sequence[str]): Class names.
            scores (dict[str, np.ndarray]): Output of :func:`class_scores`.
        """
        table = PrettyTable()
        table.add_column('Class', list(names))
        for key in ('IoU', 'precision', 'recall', 'F1'):
            table.add_column(key, [round(float(v), 2) for v in scores[key]])
        print_log('per class results:\n' + table.get_string(), 'current')
