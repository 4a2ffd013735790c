"""Build a change detector and run sliding-window inference on image pairs.

Memory stays bounded by one band of windows: the inputs are read a band of
rows at a time (GeoTIFFs lazily through rasterio windows, with GDAL's block
cache capped, see :func:`.sources.raster_env`) and only ``2 * window * W``
float32 accumulators are held; the finished rows go to a writer (memory for
:func:`predict_pair`, the output file for :func:`predict_pair_to_file`).
"""
import copy
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from mmseg.structures import SegDataSample
from torch import Tensor

from opencd.registry import MODELS
from ..utils.checkpoint import load_weights
from .sliding_window import RowBlender, WindowLayout
from .sources import ImageLike, open_pair, raster_env
from .writers import ArrayWriter, make_file_writer


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
def window_probability(model: nn.Module, batch: np.ndarray) -> np.ndarray:
    """Change probability of a batch of windows.

    Args:
        model (nn.Module): The change detector (eval mode).
        batch (np.ndarray): float32 (B, h, w, 2C), see :func:`preprocess`.

    Returns:
        np.ndarray: float32 (B, h, w).
    """
    inputs = preprocess(model, batch)
    shape = tuple(inputs.shape[2:])
    metas = [dict(img_shape=shape, pad_shape=shape, ori_shape=shape)
             ] * len(batch)
    logits = model.encode_decode(inputs, metas)
    h, w = batch.shape[1:3]
    return change_probability(logits[:, :, :h, :w]).float().cpu().numpy()


def _chunks(items: Sequence[int], size: int) -> Iterator[List[int]]:
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


def iter_probability_rows(model: nn.Module, src1, src2, window: int,
                          stride: int, batch_size: int,
                          progress: bool) -> Iterator[Tuple[int, np.ndarray]]:
    """Blended change probability, band of rows by band of rows.

    Args:
        model (nn.Module): The change detector.
        src1: Source of date 1 (see :mod:`.sources`).
        src2: Source of date 2, same size.
        window (int): Window side.
        stride (int): Step between windows (``<= window``).
        batch_size (int): Windows per forward pass (windows of one row of
            windows are batched together).
        progress (bool): Show a progress bar over the windows.

    Yields:
        tuple: ``(first_row, float32 probability rows)``, top to bottom,
        covering the image exactly once.
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    layout = WindowLayout(src1.height, src1.width, window, stride)
    blender = RowBlender(layout)
    bar = ProgressBar(len(layout)) if progress else None
    for top in layout.rows:
        yield from blender.release(top)
        band = np.concatenate([
            src1.read_rows(top, top + layout.win_h),
            src2.read_rows(top, top + layout.win_h)
        ], axis=2)
        for lefts in _chunks(layout.cols, batch_size):
            batch = np.stack(
                [band[:, left:left + layout.win_w] for left in lefts])
            for left, prob in zip(lefts, window_probability(model, batch)):
                blender.add(top, left, prob)
                if bar is not None:
                    bar.update()
    yield from blender.release(layout.height)


def _run(model, img1, img2, make_writer, window, stride, batch_size,
         threshold, progress, max_value):
    """Open the pair, stream the rows into a writer, close everything."""
    threshold = default_threshold(model, threshold)
    with raster_env():
        src1, src2 = open_pair(img1, img2, model.backbone_inchannels,
                               max_value=max_value)
        try:
            writer = make_writer(src1)
            try:
                for start, prob in iter_probability_rows(
                        model, src1, src2, window, stride, batch_size,
                        progress):
                    writer.write(start, (prob > threshold).astype(np.uint8),
                                 prob)
            finally:
                writer.close()
        finally:
            src1.close()
            src2.close()
    return writer


def predict_pair(model: nn.Module,
                 img1: ImageLike,
                 img2: ImageLike,
                 window: int = 256,
                 stride: int = 192,
                 batch_size: int = 8,
                 return_prob: bool = False,
                 threshold: Optional[float] = None,
                 progress: bool = True,
                 max_value: Optional[float] = None):
    """Change mask of an image pair of any size by sliding windows.

    Windows of ``window`` pixels (cut to the image when it is smaller, then
    padded like the data preprocessor does) are taken every ``stride``
    pixels, the last one flush with the border, and run ``batch_size`` at a
    time. Their change probabilities are blended with a linear-ramp weight
    (:mod:`.sliding_window`) and thresholded.

    Args:
        model (nn.Module): Change detector from :func:`init_model`.
        img1 (str | np.ndarray): Date 1: HxWxC array (BGR like
            ``cv2.imread``; uint8, uint16 or float, see
            :mod:`ftan_opencd.pixels`) or an image file / GeoTIFF path
            (read lazily).
        img2 (str | np.ndarray): Date 2, same size (and CRS/transform).
        window (int): Window side. Default: 256.
        stride (int): Step between windows, at most ``window``.
            Default: 192.
        batch_size (int): Windows per forward pass. Default: 8.
        return_prob (bool): Also return the probability. Default: False.
        threshold (float, optional): Probability above which a pixel is
            'changed'. Default: 0.5 (the head's threshold for sigmoid heads).
        progress (bool): Show a progress bar. Default: True.
        max_value (float, optional): Full-scale value of the data, e.g.
            4095 for 12-bit data in uint16 files; see
            :func:`ftan_opencd.pixels.scale_pixels`. Default: None.

    Returns:
        np.ndarray | tuple: uint8 (H, W) mask of 0/1, and with
        ``return_prob`` the float32 (H, W) change probability.
    """
    writer = _run(model, img1, img2,
                  lambda src: ArrayWriter(src.height, src.width, return_prob),
                  window, stride, batch_size, threshold, progress, max_value)
    return (writer.mask, writer.prob) if return_prob else writer.mask


def predict_pair_to_file(model: nn.Module,
                         img1: ImageLike,
                         img2: ImageLike,
                         out_file: str,
                         prob_file: Optional[str] = None,
                         window: int = 256,
                         stride: int = 192,
                         batch_size: int = 8,
                         threshold: Optional[float] = None,
                         progress: bool = True,
                         max_value: Optional[float] = None) -> None:
    """Like :func:`predict_pair`, writing the result to files.

    A ``.tif``/``.tiff`` ``out_file`` becomes a GeoTIFF (uint8 0/1, the
    CRS and geotransform of date 1, written band by band: the scene never
    sits in memory); any other suffix an image of 0/255 (e.g. PNG).

    Args:
        model (nn.Module): Change detector from :func:`init_model`.
        img1 (str | np.ndarray): Date 1 (see :func:`predict_pair`).
        img2 (str | np.ndarray): Date 2.
        out_file (str): Mask file.
        prob_file (str, optional): Probability file in the same format:
            float32 GeoTIFF, or 8-bit ``round(255 * p)`` image.
        window (int): Window side. Default: 256.
        stride (int): Step between windows. Default: 192.
        batch_size (int): Windows per forward pass. Default: 8.
        threshold (float, optional): See :func:`predict_pair`.
        progress (bool): Show a progress bar. Default: True.
        max_value (float, optional): See :func:`predict_pair`.
    """
    _run(model, img1, img2,
         lambda src: make_file_writer(out_file, prob_file, src.height,
                                      src.width, src.georef),
         window, stride, batch_size, threshold, progress, max_value)
