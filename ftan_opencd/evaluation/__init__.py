"""Evaluation metrics for binary change detection."""
from .change_metric import ChangeMetric

__all__ = ['ChangeMetric']
