"""Window layout and blending of sliding-window inference.

Windows overlap by ``window - stride`` pixels; the last window of each row
and column is shifted to end flush with the image border, so every pixel is
covered. Overlapping predictions are blended with a linear ramp ("feather")
weight: inside a window the weight rises linearly over the first
``window - stride`` pixels from each side that faces another window and is 1
elsewhere; sides lying on the image border keep weight 1, so border pixels are
never down-weighted. Every weight is strictly positive. With a regular stride
the ramps of two neighbours sum to 1 over their overlap (a partition of
unity); in general the blended value is ``sum(w * p) / sum(w)``.
"""
from typing import Iterator, List, Optional, Tuple

import numpy as np


def window_starts(size: int, window: int, stride: int) -> List[int]:
    """Start offsets of the windows along one axis.

    Args:
        size (int): Length of the axis (pixels).
        window (int): Window length.
        stride (int): Step between consecutive windows (``<= window``).

    Returns:
        list[int]: Offsets; the last window ends at ``size``. A single 0 when
        ``size <= window`` (the window is then cut to ``size``).
    """
    if size <= window:
        return [0]
    return list(range(0, size - window, stride)) + [size - window]


def ramp_weight(length: int, ramp: int, taper_start: bool,
                taper_end: bool) -> np.ndarray:
    """1-D feather weight of one window side to side.

    Args:
        length (int): Window length.
        ramp (int): Ramp length (the overlap); 0 gives a constant 1.
        taper_start (bool): Ramp up at the start (a neighbour lies before).
        taper_end (bool): Ramp down at the end (a neighbour lies after).

    Returns:
        np.ndarray: float32 weights in ``(0, 1]``.
    """
    weight = np.ones(length, dtype=np.float32)
    if ramp > 0:
        rise = (np.arange(length, dtype=np.float32) + 0.5) / ramp
        if taper_start:
            weight = np.minimum(weight, rise)
        if taper_end:
            weight = np.minimum(weight, rise[::-1])
    return weight


class WindowLayout:
    """The windows covering an image and their blending weights.

    Args:
        height (int): Image height.
        width (int): Image width.
        window (int): Window side; windows are ``min(window, height)`` by
            ``min(window, width)``.
        stride (int): Step between windows, ``1 <= stride <= window``.
    """

    def __init__(self, height: int, width: int, window: int, stride: int):
        if height < 1 or width < 1:
            raise ValueError(f'empty image: {height}x{width}')
        if window < 1 or not 1 <= stride <= window:
            raise ValueError(f'need 1 <= stride <= window, got window='
                             f'{window}, stride={stride} (a stride larger '
                             'than the window would leave gaps)')
        self.height, self.width = height, width
        self.win_h, self.win_w = min(window, height), min(window, width)
        self.overlap = window - stride
        self.rows = window_starts(height, window, stride)
        self.cols = window_starts(width, window, stride)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    def weight(self, top: int, left: int) -> np.ndarray:
        """Blending weight (win_h, win_w) of the window at ``(top, left)``."""
        wy = ramp_weight(self.win_h, self.overlap, top > 0,
                         top + self.win_h < self.height)
        wx = ramp_weight(self.win_w, self.overlap, left > 0,
                         left + self.win_w < self.width)
        return np.outer(wy, wx)

    def weight_map(self) -> np.ndarray:
        """Summed weight of all windows per pixel (H, W); for checks."""
        total = np.zeros((self.height, self.width), dtype=np.float32)
        for top in self.rows:
            for left in self.cols:
                total[top:top + self.win_h,
                      left:left + self.win_w] += self.weight(top, left)
        return total


class RowBlender:
    """Blend window predictions while holding only one band of rows.

    Windows must be added row of windows by row of windows, top to bottom.
    Before the windows starting at row ``top`` are added, :meth:`release`
    returns the finished rows above ``top``: no later window reaches them.
    The buffers hold ``win_h`` rows of the weighted sum and of the weight
    (``2 * 4 * win_h * width`` bytes).

    Args:
        layout (WindowLayout): The window layout.
        start (int): Image row of the first window added (0 for the whole
            image; a later window row's top for a band of the image).
    """

    def __init__(self, layout: WindowLayout, start: int = 0):
        self.layout = layout
        shape = (layout.win_h, layout.width)
        self.sum = np.zeros(shape, dtype=np.float32)
        self.weight = np.zeros(shape, dtype=np.float32)
        self.base = start  # image row of buffer row 0

    def add(self, top: int, left: int, prob: np.ndarray) -> None:
        """Accumulate one window's prediction (win_h, win_w)."""
        offset = top - self.base
        if offset < 0 or offset + self.layout.win_h > self.sum.shape[0]:
            raise ValueError(f'window at row {top} is outside the band '
                             f'starting at row {self.base}; add windows top '
                             'to bottom and release before each new row')
        weight = self.layout.weight(top, left)
        rows = slice(offset, offset + self.layout.win_h)
        cols = slice(left, left + self.layout.win_w)
        self.sum[rows, cols] += weight * prob
        self.weight[rows, cols] += weight

    def release(self, stop: int) -> Iterator[Tuple[int, np.ndarray]]:
        """Yield ``(first_row, blended rows)`` for rows ``[base, stop)``.

        Args:
            stop (int): First row that may still receive windows (the next
                window row's top, or the image height at the end).
        """
        count = stop - self.base
        if count <= 0:
            return
        if not (self.weight[:count] > 0).all():
            raise RuntimeError(f'rows {self.base}..{stop} are not fully '
                               'covered by windows')
        block = self.sum[:count] / self.weight[:count]
        start = self.base
        keep = self.sum.shape[0] - count
        for buf in (self.sum, self.weight):
            if keep > 0:
                buf[:keep] = buf[count:]
            buf[max(keep, 0):] = 0
        self.base = stop
        yield start, block


def window_rows_of_band(layout: WindowLayout, start: int,
                        stop: int) -> List[int]:
    """Tops of the window rows that reach image rows ``[start, stop)``.

    Every window covering a row of the band is among them, so blending
    only these windows gives the band's rows exactly as blending them all.

    Args:
        layout (WindowLayout): The window layout.
        start (int): First row of the band.
        stop (int): Row after the band.
    """
    return [top for top in layout.rows
            if top < stop and top + layout.win_h > start]


def row_bands(layout: WindowLayout, count: int) -> List[Tuple[int, int]]:
    """Split the image rows into ``count`` bands of about equal work.

    Band boundaries sit on window tops. A band computes every window row
    that reaches it (:func:`window_rows_of_band`): the rows it owns and,
    with overlapping windows, the row above that overlaps its first rows.
    The cuts make the largest of these counts as small as it can be (so 21
    window rows over 2 bands are 11 + 11 with the shared row, not 10 + 12),
    and leave any remainder to the top band.
    With fewer window rows than bands, the last bands are empty
    (``start == stop == height``).

    Args:
        layout (WindowLayout): The window layout.
        count (int): Number of bands (e.g. processes).

    Returns:
        list[tuple[int, int]]: ``(start, stop)`` rows of each band, top to
        bottom, covering ``[0, height)`` exactly once.
    """
    tops = list(layout.rows)

    def cost(first: int, after: int) -> int:
        """Window rows the band of window rows ``[first, after)`` needs."""
        stop = tops[after] if after < len(tops) else layout.height
        return len(window_rows_of_band(layout, tops[first], stop))

    def cuts_within(most: int) -> Optional[List[int]]:
        """First window row of each band, no band over ``most`` rows of
        work, or None when ``count`` bands cannot do it. Filled from the
        bottom, so that the top band (rank 0, which merges the bands
        afterwards) is the lightest."""
        firsts, after = [], len(tops)
        while after > 0:
            first = after - 1
            if cost(first, after) > most:
                return None
            while first > 0 and cost(first - 1, after) <= most:
                first -= 1
            firsts.insert(0, first)
            after = first
        return firsts if len(firsts) <= count else None

    most = -(-len(tops) // count)
    firsts = cuts_within(most)
    while firsts is None:
        most += 1
        firsts = cuts_within(most)
    starts = [tops[k] for k in firsts]
    starts += [layout.height] * (count - len(starts))
    return list(zip(starts, starts[1:] + [layout.height]))
