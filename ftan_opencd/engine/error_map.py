"""Colour-coded change maps as in the paper's Fig. 4."""
import numpy as np

# BGR colours (cv2.imwrite order). Fig. 4: green = false detection,
# red = missed detection; white = correctly detected change.
ERROR_COLOURS = {
    'true_positive': (255, 255, 255),
    'true_negative': (0, 0, 0),
    'false_positive': (0, 255, 0),
    'false_negative': (0, 0, 255),
    'ignored': (128, 128, 128),
}


def error_map(pred: np.ndarray, gt: np.ndarray,
              ignore_index: int = 255) -> np.ndarray:
    """Colour each pixel by its outcome (changed = class 1).

    Args:
        pred (np.ndarray): Predicted labels (H, W), 1 = changed.
        gt (np.ndarray): Ground-truth labels (H, W), 1 = changed.
        ignore_index (int): Ground-truth value drawn grey.

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR image.
    """
    if pred.shape != gt.shape:
        raise ValueError(f'prediction {pred.shape} and label {gt.shape} '
                         'differ in size')
    out = np.zeros(pred.shape + (3, ), np.uint8)
    changed, truth = pred == 1, gt == 1
    out[changed & truth] = ERROR_COLOURS['true_positive']
    out[changed & ~truth] = ERROR_COLOURS['false_positive']
    out[~changed & truth] = ERROR_COLOURS['false_negative']
    out[gt == ignore_index] = ERROR_COLOURS['ignored']
    return out
