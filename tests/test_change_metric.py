"""Tests of ChangeMetric against hand-computed confusion matrices."""
import logging

import numpy as np
import pytest
import torch

import ftan_opencd  # noqa: F401  (registers ChangeMetric)
from ftan_opencd.evaluation import ChangeMetric
from ftan_opencd.evaluation.change_metric import overall_scores
from opencd.registry import METRICS


def sample(pred, gt):
    """Data sample dict as produced by open-cd's segmentors."""
    return dict(
        pred_sem_seg=dict(data=torch.as_tensor(np.asarray(pred))[None]),
        gt_sem_seg=dict(data=torch.as_tensor(np.asarray(gt))[None]))


def evaluate(pairs):
    """Run ChangeMetric over (pred, gt) pairs, one image each."""
    metric = METRICS.build(dict(type='ChangeMetric'))
    metric.dataset_meta = dict(classes=('unchanged', 'changed'))
    for pred, gt in pairs:
        metric.process({}, [sample(pred, gt)])
    return metric.evaluate(len(pairs))


def test_hand_computed_two_images():
    # Image 1: TP=2, FP=1, FN=1, TN=4. Image 2: TP=1, FN=1, TN=6.
    # Totals: TP=3, FP=1, FN=2, TN=10 (16 pixels).
    gt1 = [[1, 1, 1, 0], [0, 0, 0, 0]]
    pr1 = [[1, 1, 0, 1], [0, 0, 0, 0]]
    gt2 = [[1, 1, 0, 0], [0, 0, 0, 0]]
    pr2 = [[1, 0, 0, 0], [0, 0, 0, 0]]
    metrics = evaluate([(pr1, gt1), (pr2, gt2)])
    assert list(metrics) == [
        'precision', 'recall', 'F1', 'IoU', 'OA', 'Kappa', 'mIoU'
    ]
    # OA = 13/16; chance pe = (11*12 + 5*4) / 16**2 = 152/256;
    # Kappa = (208/256 - 152/256) / (104/256) = 56/104.
    # IoU unchanged = 10/13, changed = 3/6.
    expected = dict(
        precision=75.0,
        recall=60.0,
        F1=round(100 * 6 / 9, 2),
        IoU=50.0,
        OA=81.25,
        Kappa=round(100 * 56 / 104, 2),
        mIoU=round(100 * (10 / 13 + 0.5) / 2, 2))
    assert metrics == expected


def test_kappa_hand_computation():
    # rows gt, cols pred: po = 35/50, pe = (25*30 + 25*20)/2500 = 0.5
    oa, kappa = overall_scores(np.array([[20, 5], [10, 15]]))
    assert oa == pytest.approx(70.0)
    assert kappa == pytest.approx(40.0)


def test_split_without_changes_perfect():
    zeros = np.zeros((4, 4), np.int64)
    metrics = evaluate([(zeros, zeros), (zeros, zeros)])
    assert metrics == dict(precision=100.0, recall=100.0, F1=100.0,
                           IoU=100.0, OA=100.0, Kappa=100.0, mIoU=100.0)


def test_split_without_changes_false_alarm():
    gt = np.zeros((2, 4), np.int64)
    pred = gt.copy()
    pred[0, 0] = 1  # one false positive, nothing to find
    metrics = evaluate([(pred, gt)])
    assert (metrics['precision'], metrics['recall'], metrics['F1'],
            metrics['IoU']) == (0.0, 0.0, 0.0, 0.0)
    assert metrics['OA'] == 87.5
    assert metrics['Kappa'] == 0.0  # po == pe == 7/8
    assert metrics['mIoU'] == round(100 * (7 / 8 + 0) / 2, 2)


def test_missed_changes_give_zero_precision():
    gt = np.zeros((2, 4), np.int64)
    gt[1, :2] = 1
    metrics = evaluate([(np.zeros_like(gt), gt)])
    assert (metrics['precision'], metrics['recall'], metrics['F1'],
            metrics['IoU']) == (0.0, 0.0, 0.0, 0.0)
    assert metrics['OA'] == 75.0


def test_ignore_index_pixels_excluded():
    gt = np.array([[1, 1, 0, 0], [255, 255, 255, 0]])
    pred = np.array([[1, 0, 0, 0], [1, 1, 0, 1]])
    with_ignore = evaluate([(pred, gt)])
    # The same image without the ignored pixels: TP=1, FN=1, TN=2, FP=1.
    kept = evaluate([([1, 0, 0, 0, 1], [1, 1, 0, 0, 0])])
    assert with_ignore == kept
    assert with_ignore['precision'] == 50.0
    assert with_ignore['OA'] == 60.0


def test_all_unchanged_predictions_warn(log):
    gt = np.zeros((4, 4), np.int64)
    gt[0, 0] = 1
    evaluate([(np.zeros_like(gt), gt)] * 3)
    warnings = [r.getMessage() for r in log.records
                if r.levelno == logging.WARNING]
    assert any("all predictions were 'unchanged' for 3 images" in m
               and 'collapsed' in m for m in warnings)
    assert any('per class results' in r.getMessage() for r in log.records)


def test_all_changed_predictions_warn(log):
    gt = np.eye(3, dtype=np.int64)
    evaluate([(np.ones_like(gt), gt)])
    assert any("all predictions were 'changed' for 1 images" in r.getMessage()
               for r in log.records)


def test_mixed_predictions_do_not_warn(log):
    gt = np.eye(3, dtype=np.int64)
    evaluate([(gt, gt)])
    assert not [r for r in log.records if 'collapsed' in r.getMessage()]


def test_invalid_label_value_raises():
    metric = ChangeMetric()
    with pytest.raises(ValueError, match='to_binary'):
        metric.process({}, [sample([[0, 1]], [[0, 7]])])


def test_default_classes_without_dataset_meta():
    metric = ChangeMetric(changed_index=1, ignore_index=255)
    metric.process({}, [sample([[0, 1]], [[0, 1]])])
    assert metric.evaluate(1)['F1'] == 100.0
