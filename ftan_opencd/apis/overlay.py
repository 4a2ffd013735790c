"""Heat-map overlays and panels for activation maps."""
from typing import List

import cv2
import numpy as np


def heat_overlay(img: np.ndarray, cam: np.ndarray,
                 alpha: float = 0.5) -> np.ndarray:
    """Blend a [0, 1] map, JET-coloured, over a uint8 BGR image.

    Args:
        img (np.ndarray): uint8 HxWx3 BGR image.
        cam (np.ndarray): float HxW map in [0, 1].
        alpha (float): Weight of the heat map. Default: 0.5.
    """
    heat = cv2.applyColorMap(
        np.round(np.clip(cam, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(heat, alpha, img, 1 - alpha, 0)


def labelled(img: np.ndarray, text: str) -> np.ndarray:
    """Image with a caption strip above it."""
    strip = np.full((20, img.shape[1], 3), 255, dtype=np.uint8)
    cv2.putText(strip, text, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, img], axis=0)


def grid(rows: List[List[np.ndarray]], gap: int = 4) -> np.ndarray:
    """Tile equally sized uint8 images into rows and columns."""
    def hstack(items):
        pad = np.full((items[0].shape[0], gap, 3), 255, dtype=np.uint8)
        out = [items[0]]
        for item in items[1:]:
            out += [pad, item]
        return np.concatenate(out, axis=1)

    lines = [hstack(r) for r in rows]
    pad = np.full((gap, lines[0].shape[1], 3), 255, dtype=np.uint8)
    out = [lines[0]]
    for line in lines[1:]:
        out += [pad, line]
    return np.concatenate(out, axis=0)
