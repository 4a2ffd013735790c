"""Model-level inference: build a change detector, run windows through it,
and stream the blended change probability of a pair band by band.

Memory stays bounded by one band of windows: the inputs are read a band of
rows at a time (GeoTIFFs lazily through rasterio windows, with GDAL's block
cache capped, see :func:`.sources.raster_env`) and only ``2 * window * W``
float32 accumulators are held. :class:`.inferencer.FTANInferencer` turns
the rows into masks, files and polygons.
"""
import copy
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from mmseg.structures import SegDataSample
from torch import Tensor

from opencd.registry import MODELS
from ..utils.checkpoint import load_weights
from ..utils.precision import amp_dtype, describe_amp
from ..utils.user_errors import check_device
from .sliding_window import RowBlender, WindowLayout, window_rows_of_band


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None,
               strict: bool = True,
               trust_checkpoint: Optional[bool] = None) -> nn.Module:
    """Build a change detector from a config and load its weights.

    Args:
        config (str | Path | Config): Config file or object.
        checkpoint (str, optional): ``.pth`` or ``.safetensors`` file; None
            keeps the freshly built (untrained) weights. ``init_weights`` is
            never called, so no pretrained backbone is fetched.
        device (str): Device, e.g. ``'cpu'`` or ``'cuda:0'``.
        cfg_options (dict, optional): Overrides merged into the config.
        strict (bool): The checkpoint must fit the model exactly (an error
            names the first mismatched keys otherwise). Defaults to True.
        trust_checkpoint (bool, optional): Unpickle the checkpoint fully,
            which can run code from it: only for files you trust. None
            takes the config's ``trust_checkpoint`` (default False).

    Returns:
        nn.Module: The model in eval mode, with the config as ``model.cfg``
        (and ``model.dataset_meta`` when the checkpoint stores it).
    """
    device = check_device(str(device))
    cfg = copy.deepcopy(config) if isinstance(config, Config) else \
        Config.fromfile(str(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    cfg.model.train_cfg = None
    init_default_scope(cfg.get('default_scope', 'opencd'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        if trust_checkpoint is None:
            trust_checkpoint = bool(cfg.get('trust_checkpoint', False))
        ckpt = load_weights(model, checkpoint, device, strict,
                            trust_checkpoint)
        meta = ckpt.get('meta', {})
        if 'dataset_meta' in meta:
            model.dataset_meta = meta['dataset_meta']
    if torch.device(device).type == 'cpu':
        model = revert_sync_batchnorm(model)
    model.cfg = cfg
    return model.to(device).eval()


def preprocess(model: nn.Module, batch: np.ndarray) -> Tensor:
    """Normalise windows with the model's own data preprocessor.

    Each window goes through ``model.data_preprocessor`` in test mode (BGR
    to RGB, ``(x - mean) / std``, padding to its test ``size`` or
    ``size_divisor``), exactly as in ``tools/test.py``; the preprocessor
    takes one image at a time when testing.

    Args:
        model (nn.Module): The change detector.
        batch (np.ndarray): (B, h, w, 2C): date 1 then date 2 channels, as
            the pixel rules give them (:mod:`ftan_opencd.pixels`).

    Returns:
        Tensor: (B, 2C, H', W') on the model's device.
    """
    windows = torch.from_numpy(np.ascontiguousarray(batch)).permute(
        0, 3, 1, 2)
    return torch.cat([
        model.data_preprocessor(
            dict(inputs=[window], data_samples=[SegDataSample()]),
            training=False)['inputs'] for window in windows
    ])


def forward_logits(model: nn.Module, inputs: Tensor) -> Tensor:
    """Decoder logits of preprocessed inputs, at the head's resolution
    (the segmentor's public ``mode='tensor'`` forward).

    Args:
        model (nn.Module): The change detector.
        inputs (Tensor): (B, 2C, H, W) from :func:`preprocess`.
    """
    return model(inputs, mode='tensor')


def change_probability(logits: Tensor) -> Tensor:
    """Probability of 'changed' from (B, C, H, W) logits.

    Softmax channel 1 for two-class heads, sigmoid for one-channel heads.
    """
    if logits.shape[1] == 1:
        return logits[:, 0].sigmoid()
    if logits.shape[1] == 2:
        return logits.softmax(dim=1)[:, 1]
    raise ValueError(f'binary change detection needs 1 or 2 output '
                     f'channels, the model has {logits.shape[1]}')


def default_threshold(model: nn.Module,
                      threshold: Optional[float] = None) -> float:
    """``threshold``, else the head's rule: 0.5 on the softmax probability
    (argmax), the head's ``threshold`` for a sigmoid head."""
    if threshold is not None:
        return float(threshold)
    head_threshold = getattr(model.decode_head, 'threshold', None)
    if model.decode_head.out_channels == 1 and head_threshold is not None:
        return float(head_threshold)
    return 0.5


@torch.no_grad()
def window_probability(model: nn.Module, batch: np.ndarray,
                       amp: Optional[torch.dtype] = None) -> np.ndarray:
    """Change probability of a batch of windows.

    With ``amp`` the encoder (backbone and neck, ``model.extract_feat``)
    runs under autocast; the decode head runs in float32 on float32
    features, as most of the masks' sensitivity to rounding sits in the
    decoder's logits (on the demo test set: 99.99 % of pixels agree with
    float32, against 99.84 % with the decoder in bfloat16 too).

    Args:
        model (nn.Module): The change detector (eval mode).
        batch (np.ndarray): float32 (B, h, w, 2C), see :func:`preprocess`.
        amp (torch.dtype, optional): Autocast dtype of the encoder.

    Returns:
        np.ndarray: float32 (B, h, w).
    """
    inputs = preprocess(model, batch)
    shape = tuple(inputs.shape[2:])
    metas = [dict(img_shape=shape, pad_shape=shape, ori_shape=shape)
             ] * len(batch)
    if amp is None:
        logits = model.encode_decode(inputs, metas)
    else:
        with torch.autocast(inputs.device.type, dtype=amp):
            feats = model.extract_feat(inputs)
        logits = model.decode_head.predict([f.float() for f in feats], metas,
                                           model.test_cfg)
    h, w = batch.shape[1:3]
    return change_probability(
        logits[:, :, :h, :w].float()).cpu().numpy()


def _chunks(items: Sequence[int], size: int) -> Iterator[List[int]]:
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


class RowValidity:
    """Valid pixels of the rows read but not yet released, by row."""

    def __init__(self):
        self.rows = {}

    def add(self, top: int, valid: np.ndarray) -> None:
        """Remember the (rows, W) validity of rows starting at ``top``."""
        for offset, row in enumerate(valid):
            self.rows.setdefault(top + offset, row)

    def take(self, start: int, count: int) -> np.ndarray:
        """Validity of rows ``[start, start + count)``, then forget them."""
        return np.stack([self.rows.pop(r) for r in range(start,
                                                          start + count)])


def iter_probability_rows(
        model: nn.Module,
        src1,
        src2,
        window: int,
        stride: int,
        batch_size: int,
        progress: bool,
        amp: Optional[torch.dtype] = None,
        band: Optional[Tuple[int, int]] = None
) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
    """Blended change probability, band of rows by band of rows.

    Pixels invalid in either date (non-finite or nodata, see
    :mod:`ftan_opencd.pixels`) are filled with 0 in both dates before the
    model sees them.

    Args:
        model (nn.Module): The change detector.
        src1: Source of date 1 (see :mod:`.sources`).
        src2: Source of date 2, same size.
        window (int): Window side.
        stride (int): Step between windows (``<= window``).
        batch_size (int): Windows per forward pass (windows of one row of
            windows are batched together).
        progress (bool): Show a progress bar over the windows.
        amp (torch.dtype, optional): Autocast dtype (None: float32).
        band (tuple[int, int], optional): Only the image rows
            ``[start, stop)``, from the windows that reach them
            (:func:`.sliding_window.window_rows_of_band`): the same values,
            bit for bit, as those rows of the whole image. None: all rows.

    Yields:
        tuple: ``(first_row, float32 probability rows, bool valid rows)``,
        top to bottom, covering the image (or the band) exactly once.
    """
    layout = WindowLayout(src1.height, src1.width, window, stride)
    start, stop = band or (0, layout.height)
    tops = window_rows_of_band(layout, start, stop)
    if not tops:
        return
    blender = RowBlender(layout, tops[0])
    validity = RowValidity()
    bar = ProgressBar(len(tops) * len(layout.cols)) if progress else None

    def released(until):
        for first, prob in blender.release(until):
            valid = validity.take(first, len(prob))
            lo, hi = max(start, first), min(stop, first + len(prob))
            if lo < hi:
                yield lo, prob[lo - first:hi - first], \
                    valid[lo - first:hi - first]

    for top in tops:
        yield from released(top)
        (rows1, valid1), (rows2, valid2) = (
            src.read_block(top, top + layout.win_h) for src in (src1, src2))
        valid = valid1 & valid2
        rows = np.concatenate([rows1, rows2], axis=2)
        rows[~valid] = 0
        validity.add(top, valid)
        for lefts in _chunks(layout.cols, batch_size):
            batch = np.stack(
                [rows[:, left:left + layout.win_w] for left in lefts])
            for left, prob in zip(lefts,
                                  window_probability(model, batch, amp)):
                blender.add(top, left, prob)
                if bar is not None:
                    bar.update()
    yield from released(min(layout.height, tops[-1] + layout.win_h))


MIN_SIDE = 32  # the encoder's total stride: smaller sides predict nothing


def to_bgr(img, channel_order: str):
    """Array input in OpenCV channel order (RGB[A] reversed to BGR[A])."""
    if channel_order == 'rgb' and isinstance(img, np.ndarray) and \
            img.ndim == 3 and img.shape[2] in (3, 4):
        order = [2, 1, 0] + list(range(3, img.shape[2]))
        return np.ascontiguousarray(img[..., order])
    return img


def resolve_amp(model: nn.Module, amp: bool) -> Optional[torch.dtype]:
    """The autocast dtype of an ``amp=True`` run on the model's device
    (None, with a log line, where reduced precision is not native)."""
    if not amp:
        return None
    device = str(next(model.parameters()).device)
    print_log(describe_amp(device), logger='current')
    return amp_dtype(device)
