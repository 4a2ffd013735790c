"""Build a change detector and run sliding-window inference on image pairs.

Memory stays bounded by one band of windows: the inputs are read a band of
rows at a time (GeoTIFFs lazily through rasterio windows, with GDAL's block
cache capped, see :func:`.sources.raster_env`) and only ``2 * window * W``
float32 accumulators are held; the finished rows go to a writer (memory for
:func:`predict_pair`, the output file for :func:`predict_pair_to_file`, and
the change polygons of its ``vector_file`` or of
:func:`predict_pair_polygons`, vectorised band by band, see
:mod:`.vectorize`).
"""
import copy
import logging
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
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
from .sliding_window import RowBlender, WindowLayout
from .sources import ImageLike, open_pair, raster_env
from .vectorize import (ChangeVectorizer, check_vector_file,
                        check_vector_options, import_geo, require_georef,
                        vectorizing_writer)
from .writers import NODATA, ArrayWriter, check_output_files, \
    make_file_writer


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
    device = check_device(device)
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


def check_device(device) -> str:
    """``device`` as a string torch accepts, or an error saying what works.

    Raises:
        ValueError: Unknown device, or CUDA asked for without a GPU.
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}: use 'cpu', 'cuda' or "
                         "'cuda:N'") from exc
    if parsed.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'device {device!r}: CUDA is not available on this '
                         "machine (torch.cuda.is_available() is False); use "
                         "'cpu'")
    if parsed.type not in ('cpu', 'cuda'):
        raise ValueError(f"device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")
    return str(parsed)


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
        amp: Optional[torch.dtype] = None
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

    Yields:
        tuple: ``(first_row, float32 probability rows, bool valid rows)``,
        top to bottom, covering the image exactly once.
    """
    layout = WindowLayout(src1.height, src1.width, window, stride)
    blender = RowBlender(layout)
    validity = RowValidity()
    bar = ProgressBar(len(layout)) if progress else None

    def released(until):
        for start, prob in blender.release(until):
            yield start, prob, validity.take(start, len(prob))

    for top in layout.rows:
        yield from released(top)
        (rows1, valid1), (rows2, valid2) = (
            src.read_block(top, top + layout.win_h) for src in (src1, src2))
        valid = valid1 & valid2
        band = np.concatenate([rows1, rows2], axis=2)
        band[~valid] = 0
        validity.add(top, valid)
        for lefts in _chunks(layout.cols, batch_size):
            batch = np.stack(
                [band[:, left:left + layout.win_w] for left in lefts])
            for left, prob in zip(lefts,
                                  window_probability(model, batch, amp)):
                blender.add(top, left, prob)
                if bar is not None:
                    bar.update()
    yield from released(layout.height)


MIN_SIDE = 32  # the encoder's total stride: smaller sides predict nothing


def _check_int(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
        raise ValueError(f'{name} must be an integer >= {minimum}, got '
                         f'{value!r}')


def check_arguments(window, stride, batch_size, threshold,
                    channel_order: str, images) -> None:
    """Refuse arguments that would give a meaningless result.

    Raises:
        ValueError: Naming the argument and the accepted values.
    """
    _check_int('window', window)
    _check_int('stride', stride)
    _check_int('batch_size', batch_size)
    if stride > window:
        raise ValueError(f'need stride <= window, got window={window}, '
                         f'stride={stride} (a larger stride leaves gaps)')
    if threshold is not None and not (isinstance(threshold, (int, float))
                                      and 0 < threshold < 1):
        raise ValueError('threshold must be a probability strictly between 0 '
                         f'and 1, got {threshold!r}')
    if channel_order not in ('bgr', 'rgb'):
        raise ValueError("channel_order must be 'bgr' (OpenCV) or 'rgb', "
                         f'got {channel_order!r}')
    if channel_order == 'rgb' and not all(
            isinstance(img, np.ndarray) for img in images):
        raise ValueError("channel_order='rgb' describes arrays; image files "
                         'are decoded by their format (pass arrays, or '
                         "leave channel_order='bgr')")


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


def _run(model, img1, img2, make_writer, window, stride, batch_size,
         threshold, progress, max_value, nodata, channel_order, amp):
    """Check the arguments, open the pair, stream the rows into a writer
    (discarded on failure); returns the writer and a summary dict."""
    check_arguments(window, stride, batch_size, threshold, channel_order,
                    (img1, img2))
    threshold = default_threshold(model, threshold)
    dtype = resolve_amp(model, amp)
    img1, img2 = (to_bgr(img, channel_order) for img in (img1, img2))
    summary = dict(pixels=0, changed=0, nodata=0)
    with raster_env():
        src1, src2 = open_pair(img1, img2, model.backbone_inchannels,
                               max_value=max_value, nodata=nodata)
        try:
            if min(src1.height, src1.width) < MIN_SIDE:
                print_log(
                    f'{src1.name}: {src1.height}x{src1.width} has a side '
                    f'under {MIN_SIDE} px, the model\'s total stride; the '
                    'prediction carries almost no information',
                    logger='current', level=logging.WARNING)
            writer = make_writer(src1)
            try:
                for start, prob, valid in iter_probability_rows(
                        model, src1, src2, window, stride, batch_size,
                        progress, dtype):
                    mask = (prob > threshold).astype(np.uint8)
                    mask[~valid] = NODATA
                    prob[~valid] = np.nan
                    writer.write(start, mask, prob)
                    summary['pixels'] += mask.size
                    summary['changed'] += int((mask == 1).sum())
                    summary['nodata'] += int((~valid).sum())
            except BaseException:
                writer.abort()
                raise
            writer.close()
        finally:
            src1.close()
            src2.close()
    if summary['nodata']:
        print_log(
            f'{src1.name} + {src2.name}: {summary["nodata"]} of '
            f'{summary["pixels"]} pixels are non-finite or nodata in a '
            f'date; they were filled for the model and are nodata in the '
            f'result ({NODATA} in the mask, NaN in the probability)',
            logger='current', level=logging.WARNING)
    return writer, summary


def predict_pair(model: nn.Module,
                 img1: ImageLike,
                 img2: ImageLike,
                 window: int = 256,
                 stride: int = 192,
                 batch_size: int = 8,
                 return_prob: bool = False,
                 threshold: Optional[float] = None,
                 progress: bool = True,
                 max_value: Optional[float] = None,
                 nodata: Optional[float] = None,
                 channel_order: str = 'bgr',
                 amp: bool = False):
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
        nodata (float, optional): Value of pixels without data in the
            inputs (all bands equal to it). Default: the GeoTIFF's declared
            nodata, none for other inputs. Non-finite pixels are always
            invalid.
        channel_order (str): Channel order of array inputs, ``'bgr'``
            (OpenCV, default) or ``'rgb'`` (PIL, rasterio, matplotlib).
        amp (bool): Run the encoder under autocast: bfloat16 on CPUs with
            native bfloat16 (AVX-512 BF16, AMX; float32 elsewhere, with a
            log line), bfloat16 or float16 on GPUs; the decode head stays
            float32 (see :func:`window_probability`). Default: False.

    Returns:
        np.ndarray | tuple: uint8 (H, W) mask of 0/1 (``NODATA`` = 255
        where a date has no valid data; a warning says how many), and with
        ``return_prob`` the float32 (H, W) change probability (NaN there).
    """
    writer, _ = _run(model, img1, img2,
                     lambda src: ArrayWriter(src.height, src.width,
                                             return_prob),
                     window, stride, batch_size, threshold, progress,
                     max_value, nodata, channel_order, amp)
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
                         max_value: Optional[float] = None,
                         nodata: Optional[float] = None,
                         channel_order: str = 'bgr',
                         amp: bool = False,
                         vector_file: Optional[str] = None,
                         min_area: int = 0,
                         min_area_map: Optional[float] = None,
                         simplify: Optional[float] = None,
                         connectivity: int = 4) -> dict:
    """Like :func:`predict_pair`, writing the result to files.

    A ``.tif``/``.tiff`` ``out_file`` becomes a GeoTIFF (uint8 0/1 with
    nodata 255, the CRS and geotransform of date 1, written band by band:
    the scene never sits in memory); ``.png`` an image of 0/255 (no nodata:
    such pixels are written 0, with a warning). Other suffixes, and an
    output that is one of the inputs, are refused before any computation.
    Files appear only when complete (written under a temporary name, then
    renamed); a failed run leaves nothing.

    ``vector_file`` (``.gpkg`` or ``.geojson``) also receives the change
    polygons, vectorised band by band as the rows are predicted (see
    :mod:`.vectorize` and :func:`predict_pair_polygons`); it needs the
    ``[geo]`` extra (rasterio, shapely, pyogrio), checked before any
    computation.

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
        nodata (float, optional): See :func:`predict_pair`.
        channel_order (str): See :func:`predict_pair`.
        amp (bool): See :func:`predict_pair`.
        vector_file (str, optional): Change polygons file, ``.gpkg`` or
            ``.geojson``, in the CRS of date 1 (pixel coordinates for
            inputs without georeferencing, said in the layer description).
        min_area (int): See :func:`predict_pair_polygons`.
        min_area_map (float, optional): See :func:`predict_pair_polygons`.
        simplify (float, optional): See :func:`predict_pair_polygons`.
        connectivity (int): See :func:`predict_pair_polygons`.

    Returns:
        dict: ``pixels``, ``changed`` and ``nodata`` pixel counts (and
        ``polygons``, the features written, with ``vector_file``).
    """
    check_output_files(out_file, prob_file, (img1, img2))
    options = dict(min_area=min_area, min_area_map=min_area_map,
                   simplify=simplify, connectivity=connectivity)
    if vector_file is not None:
        check_vector_options(**options)
        check_vector_file(vector_file, (img1, img2, out_file, prob_file))

    def make_writer(src):
        def mask_writer():
            return make_file_writer(out_file, prob_file, src.height,
                                    src.width, src.georef)

        if vector_file is None:
            return mask_writer()
        return vectorizing_writer(mask_writer, vector_file, src, **options)

    writer, summary = _run(model, img1, img2, make_writer, window, stride,
                           batch_size, threshold, progress, max_value,
                           nodata, channel_order, amp)
    if vector_file is not None:
        summary['polygons'] = writer.vectorizer.count
    return summary


def predict_pair_polygons(model: nn.Module,
                          img1: ImageLike,
                          img2: ImageLike,
                          window: int = 256,
                          stride: int = 192,
                          batch_size: int = 8,
                          threshold: Optional[float] = None,
                          progress: bool = True,
                          max_value: Optional[float] = None,
                          nodata: Optional[float] = None,
                          channel_order: str = 'bgr',
                          amp: bool = False,
                          min_area: int = 0,
                          min_area_map: Optional[float] = None,
                          simplify: Optional[float] = None,
                          connectivity: int = 4) -> List[dict]:
    """Change polygons of an image pair of any size.

    The mask of :func:`predict_pair` is vectorised band by band as the rows
    are predicted (the mask never sits in memory; a polygon crossing bands
    is one polygon): one feature per connected component of changed pixels
    (nodata is not change). Needs rasterio and shapely (the ``[geo]``
    extra), checked before any computation.

    Args:
        model (nn.Module): Change detector from :func:`init_model`.
        img1 (str | np.ndarray): Date 1 (see :func:`predict_pair`).
        img2 (str | np.ndarray): Date 2.
        window (int): Window side. Default: 256.
        stride (int): Step between windows. Default: 192.
        batch_size (int): Windows per forward pass. Default: 8.
        threshold (float, optional): See :func:`predict_pair`.
        progress (bool): Show a progress bar. Default: True.
        max_value (float, optional): See :func:`predict_pair`.
        nodata (float, optional): See :func:`predict_pair`.
        channel_order (str): See :func:`predict_pair`.
        amp (bool): See :func:`predict_pair`.
        min_area (int): Objects of fewer pixels are dropped. Default: 0.
        min_area_map (float, optional): Objects smaller than this area in
            map units (CRS units squared) are dropped; GeoTIFF inputs only.
        simplify (float, optional): Topology-preserving Douglas-Peucker
            tolerance in map units (pixels without georeferencing); None
            keeps the exact pixel outlines.
        connectivity (int): 4 (default: pixels sharing an edge; every
            feature a ``Polygon``) or 8 (also corners; ``MultiPolygon``).

    Returns:
        list[dict]: One dict per object, top-left first: ``geometry``
        (shapely, in the CRS of date 1; for arrays and PNG/JPG inputs pixel
        coordinates x = column, y = row downwards), ``area_px``,
        ``area_map`` (map units; equal to ``area_px`` without
        georeferencing), ``prob_mean`` and ``prob_max``. Ready for
        ``geopandas.GeoDataFrame(polygons, crs=...)``.
    """
    check_vector_options(min_area, min_area_map, simplify, connectivity)
    import_geo(files=False)
    polygons = []

    def make_writer(src):
        require_georef(src.georef, min_area_map, src.name)
        return ChangeVectorizer(
            polygons.append, src.georef[1] if src.georef else None,
            connectivity, min_area, min_area_map, simplify)

    _run(model, img1, img2, make_writer, window, stride, batch_size,
         threshold, progress, max_value, nodata, channel_order, amp)
    return polygons
