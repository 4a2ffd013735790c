"""FTANInferencer: a change detector built once, called on many pairs.

Like mmseg's ``MMSegInferencer``, the model is built once (config,
checkpoint, device, safe loading) and called many times; each call may
override any option, routed by name to its stage (:mod:`.options`)::

    from ftan_opencd.apis import FTANInferencer, WindowOptions

    inferencer = FTANInferencer('configs/ftan/ftan-b_levir-cd.py',
                                'work_dirs/ftan/iter_40000.pth',
                                device='cuda:0',
                                window=WindowOptions(window=512))
    mask = inferencer(img1, img2)                       # arrays or files
    mask, prob = inferencer('A.tif', 'B.tif', return_prob=True, stride=256)
    inferencer.predict_to_file('A.tif', 'B.tif', 'change.tif',
                               vector_file='changes.gpkg', min_area=20)
    inferencer.predict_folder('A/', 'B/', 'masks/', prob=True)

Memory stays bounded by one band of windows whatever the scene size: the
inputs are read a band of rows at a time and the finished rows go to a
writer (memory, the output files, or the polygons vectorised band by band),
see :func:`.inference.iter_probability_rows`.
"""
import logging
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import print_log

from ..errors import UserError
from .inference import (MIN_SIDE, default_threshold, init_model,
                        iter_probability_rows, resolve_amp, to_bgr)
from .options import PixelOptions, PolygonOptions, WindowOptions, \
    route_options
from .pair_jobs import PairJob, check_jobs, folder_jobs, write_summary
from .sharding import (BandPiece, Shard, broadcast, counts,
                       describe_failure, gather, raise_first_failure,
                       shard_jobs)
from .sliding_window import WindowLayout, row_bands
from .sources import ImageLike, open_pair, raster_env
from .vectorize import (ChangeVectorizer, import_geo, require_georef,
                        vectorizing_writer)
from .writers import NODATA, ArrayWriter, make_file_writer


class FTANInferencer:
    """Sliding-window change detection with a model built once.

    Windows of ``window.window`` pixels (cut to the image when it is
    smaller, then padded like the data preprocessor does) are taken every
    ``window.step`` pixels, the last one flush with the border, and run
    ``window.batch_size`` at a time; their change probabilities are blended
    with a linear-ramp weight (:mod:`.sliding_window`) and thresholded.

    Args:
        config (str | Path | Config): Model config.
        checkpoint (str, optional): ``.pth`` or ``.safetensors`` weights;
            None keeps the freshly built (untrained) weights.
        device (str): ``'cpu'``, ``'cuda'`` or ``'cuda:N'``. Default: cpu.
        cfg_options (dict, optional): Overrides merged into the config.
        strict (bool): The checkpoint must fit the model exactly.
            Default: True.
        trust_checkpoint (bool, optional): Unpickle the checkpoint fully,
            which can run code from it: only for files you trust. None takes
            the config's ``trust_checkpoint`` (default False).
        window (WindowOptions, optional): Window, stride, batch size,
            threshold. Default: ``WindowOptions()``.
        pixels (PixelOptions, optional): Full-scale value, nodata, channel
            order. Default: ``PixelOptions()``.
        polygons (PolygonOptions, optional): Polygon filters and
            simplification. Default: ``PolygonOptions()``.
        amp (bool): Run the encoder under autocast: bfloat16 on CPUs with
            native bfloat16 (float32 elsewhere, with a log line), bfloat16
            or float16 on GPUs; the decode head stays float32 (see
            :func:`.inference.window_probability`). Default: False.
        progress (bool): Show a progress bar over the windows.
            Default: True.
    """

    def __init__(self,
                 config: Union[str, Config],
                 checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 *,
                 cfg_options: Optional[dict] = None,
                 strict: bool = True,
                 trust_checkpoint: Optional[bool] = None,
                 window: Optional[WindowOptions] = None,
                 pixels: Optional[PixelOptions] = None,
                 polygons: Optional[PolygonOptions] = None,
                 amp: bool = False,
                 progress: bool = True):
        options = self._options(window, pixels, polygons, amp, progress)
        self._init(init_model(config, checkpoint, device, cfg_options,
                              strict, trust_checkpoint), options)

    @classmethod
    def from_model(cls, model: nn.Module, **options) -> 'FTANInferencer':
        """An inferencer around a model already built (e.g. by
        :func:`.inference.init_model`).

        Args:
            model (nn.Module): The change detector, in eval mode.
            **options: ``window``, ``pixels``, ``polygons``, ``amp``,
                ``progress`` as in the constructor.
        """
        self = cls.__new__(cls)
        self._init(model, cls._options(**options))
        return self

    @staticmethod
    def _options(window: Optional[WindowOptions] = None,
                 pixels: Optional[PixelOptions] = None,
                 polygons: Optional[PolygonOptions] = None,
                 amp: bool = False,
                 progress: bool = True) -> dict:
        return route_options(
            dict(window=WindowOptions(), pixels=PixelOptions(),
                 polygons=PolygonOptions(), amp=amp, progress=progress),
            {k: v for k, v in dict(window=window, pixels=pixels,
                                   polygons=polygons).items()
             if v is not None})

    def _init(self, model: nn.Module, options: dict) -> None:
        self.model = model
        self.options = options

    @property
    def window(self) -> WindowOptions:
        """The default window options of the calls."""
        return self.options['window']

    @property
    def pixels(self) -> PixelOptions:
        """The default pixel options of the calls."""
        return self.options['pixels']

    @property
    def polygon_options(self) -> PolygonOptions:
        """The default polygon options of the calls."""
        return self.options['polygons']

    # ----------------------------------------------------------- calls
    def __call__(self, img1: ImageLike, img2: ImageLike,
                 return_prob: bool = False, **overrides):
        """Change mask of an image pair of any size.

        Args:
            img1 (str | np.ndarray): Date 1: HxWxC array (BGR like
                ``cv2.imread`` unless ``channel_order='rgb'``; uint8,
                uint16 or float, see :mod:`ftan_opencd.pixels`) or an image
                file / GeoTIFF path (read lazily).
            img2 (str | np.ndarray): Date 2, same size (and CRS/transform).
            return_prob (bool): Also return the probability.
            **overrides: Options of this call (a :class:`WindowOptions` or
                :class:`PixelOptions` field, ``amp``, ``progress``).

        Returns:
            np.ndarray | tuple: uint8 (H, W) mask of 0/1 (``NODATA`` = 255
            where a date has no valid data; a warning says how many), and
            with ``return_prob`` the float32 (H, W) probability (NaN there).
        """
        writer, _ = self._stream(
            img1, img2,
            lambda src: ArrayWriter(src.height, src.width, return_prob),
            route_options(self.options, overrides, ('window', 'pixels')))
        return (writer.mask, writer.prob) if return_prob else writer.mask

    def predict_to_file(self, img1: ImageLike, img2: ImageLike,
                        out_file: str, prob_file: Optional[str] = None,
                        vector_file: Optional[str] = None,
                        **overrides) -> dict:
        """Like a call, writing the result to files.

        A ``.tif``/``.tiff`` ``out_file`` becomes a GeoTIFF (uint8 0/1 with
        nodata 255, the CRS and geotransform of date 1, written band by
        band); ``.png`` an image of 0/255 (nodata pixels written 0, with a
        warning). Other suffixes, an input as output and a folder that
        cannot be written are refused before any computation. Files appear
        only when complete (temporary name, then rename); a failed run
        leaves nothing.

        Args:
            img1 (str | np.ndarray): Date 1 (see :meth:`__call__`).
            img2 (str | np.ndarray): Date 2.
            out_file (str): Mask file.
            prob_file (str, optional): Probability file in the same format:
                float32 GeoTIFF, or 8-bit ``round(255 * p)`` image.
            vector_file (str, optional): Change polygons, ``.gpkg`` or
                ``.geojson``, vectorised band by band as the rows are
                predicted, in the CRS of date 1 (pixel coordinates without
                georeferencing); needs the ``[geo]`` extra.
            **overrides: Options of this call (any option field, ``amp``,
                ``progress``).

        Returns:
            dict: ``pixels``, ``changed`` and ``nodata`` pixel counts (and
            ``polygons``, the features written, with ``vector_file``).
        """
        check_jobs([PairJob(img1, img2, out_file, prob_file)], vector_file)
        return self._write(PairJob(img1, img2, out_file, prob_file),
                           vector_file, overrides)

    def polygons(self, img1: ImageLike, img2: ImageLike,
                 **overrides) -> List[dict]:
        """Change polygons of an image pair of any size.

        The mask is vectorised band by band as the rows are predicted (it
        never sits in memory; an object crossing bands is one polygon): one
        feature per connected component of changed pixels (nodata is not
        change). Needs rasterio and shapely (the ``[geo]`` extra).

        Args:
            img1 (str | np.ndarray): Date 1 (see :meth:`__call__`).
            img2 (str | np.ndarray): Date 2.
            **overrides: Options of this call (any option field, ``amp``,
                ``progress``).

        Returns:
            list[dict]: One dict per object, top-left first: ``geometry``
            (shapely, in the CRS of date 1; for arrays and PNG/JPG inputs
            pixel coordinates x = column, y = row downwards), ``area_px``,
            ``area_map`` (map units; ``area_px`` without georeferencing),
            ``prob_mean`` and ``prob_max``.
        """
        options = route_options(self.options, overrides,
                                ('window', 'pixels', 'polygons'))
        shape = options['polygons']
        import_geo(files=False)
        found = []

        def make_writer(src):
            require_georef(src.georef, shape.min_area_map, src.name)
            return ChangeVectorizer(
                found.append, src.georef[1] if src.georef else None,
                scene_shape=(src.height, src.width), name=str(src.name),
                **shape.as_kwargs())

        self._stream(img1, img2, make_writer, options)
        return found

    def predict_folder(self, dir1: str, dir2: str, out_dir: str,
                       prob: bool = False, skip_existing: bool = False,
                       **overrides) -> dict:
        """Predict every pair of two folders matched by file name.

        Args:
            dir1 (str): Folder of date 1 images.
            dir2 (str): Folder of date 2 images.
            out_dir (str): Output folder (``<name>.png``, or the input name
                for GeoTIFFs; ``<stem>_prob.<ext>`` with ``prob``).
            prob (bool): Also write the probabilities.
            skip_existing (bool): Keep the pairs whose outputs all exist
                (outputs appear only complete, so a rerun after a killed
                run does only what is missing).
            **overrides: Options of this call.

        Returns:
            dict: The content of ``predict_summary.json``, written in
            ``out_dir`` (``complete``, ``pairs``, ``failed``, ``results``).
        """
        jobs = folder_jobs(dir1, dir2, out_dir, prob)
        check_jobs(jobs)
        return self.run_jobs(jobs, summary_dir=out_dir,
                             skip_existing=skip_existing, **overrides)

    def run_jobs(self, jobs: Sequence[PairJob],
                 vector_file: Optional[str] = None,
                 summary_dir: Optional[str] = None,
                 skip_existing: bool = False,
                 **overrides) -> dict:
        """Write the outputs of checked jobs (:func:`.pair_jobs.check_jobs`).

        Without ``summary_dir`` (one pair) an error propagates; with it, a
        failing pair is logged and the run goes on, and the summary in
        ``summary_dir`` says which pairs failed.

        Args:
            jobs (Sequence[PairJob]): The pairs and their output files.
            vector_file (str, optional): Polygons file of the one pair.
            summary_dir (str, optional): Folder of ``predict_summary.json``.
            skip_existing (bool): See :meth:`predict_folder`.
            **overrides: Options of this call.

        Returns:
            dict: ``complete``, ``pairs``, ``failed`` and per-pair
            ``results``.
        """
        shard = Shard.current()
        if shard.world > 1 and summary_dir is None:
            # one scene over several processes: a row band each
            if len(jobs) != 1:
                raise UserError('without a summary folder, run_jobs writes '
                                'one pair; give summary_dir for several')
            summary = self._write_banded(jobs[0], vector_file, overrides,
                                         shard)
            results = [dict(self._record(jobs[0]), status='ok', **summary)]
        else:
            mine = [(i, self._run_one(job, vector_file, summary_dir,
                                      skip_existing, overrides, shard))
                    for i, job in shard_jobs(jobs, shard)]
            results = [result for _, result in sorted(
                (item for rank in gather(mine, shard) for item in rank),
                key=lambda item: item[0])]
        failed = sum(r['status'] == 'failed' for r in results)
        report = dict(complete=not failed, pairs=len(results), failed=failed,
                      results=results)
        if summary_dir is not None and shard.rank == 0:
            path = write_summary(summary_dir, results)
            done = len(results) - failed
            print_log(f'{done} of {len(results)} pair(s) written or kept; '
                      f'summary: {path}' +
                      (f' (INCOMPLETE: {failed} failed)' if failed else ''),
                      logger='current')
        return report

    @staticmethod
    def _record(job: PairJob) -> dict:
        return dict(img1=str(job.img1), img2=str(job.img2), out=job.out)

    def _run_one(self, job: PairJob, vector_file: Optional[str],
                 summary_dir: Optional[str], skip_existing: bool,
                 overrides: dict, shard: Shard) -> dict:
        """Write one job; in a folder run a failure is recorded, else it
        propagates."""
        record = self._record(job)
        if shard.world > 1:
            record['rank'] = shard.rank
        if skip_existing and job.done():
            print_log(f'{job.out}: complete output exists, skipped',
                      logger='current')
            return dict(record, status='skipped')
        try:
            summary = self._write(job, vector_file, overrides)
        except Exception as exc:  # noqa: BLE001 - recorded, run goes on
            if summary_dir is None:
                raise
            print_log(f'failed {job.img1} + {job.img2}: '
                      f'{type(exc).__name__}: {exc}', logger='current',
                      level=logging.ERROR)
            return dict(record, status='failed', error=str(exc))
        print_log(f'{job.img1} + {job.img2} -> {job.out} '
                  f'({summary["changed"]} changed, {summary["nodata"]} '
                  f'nodata of {summary["pixels"]} pixels)' +
                  (f'; {summary["polygons"]} change polygon(s) -> '
                   f'{vector_file}' if vector_file else ''),
                  logger='current')
        return dict(record, status='ok', **summary)

    # -------------------------------------------------------- internals
    def _write(self, job: PairJob, vector_file: Optional[str],
               overrides: dict) -> dict:
        """Stream one checked job into its files."""
        options = self._route_write(overrides, vector_file)
        writer, summary = self._stream(
            job.img1, job.img2,
            lambda src: self._file_writer(job, vector_file, options, src),
            options)
        if vector_file is not None:
            summary['polygons'] = writer.vectorizer.count
        return summary

    def _write_banded(self, job: PairJob, vector_file: Optional[str],
                      overrides: dict, shard: Shard) -> dict:
        """One scene over the ranks: each rank predicts a row band into a
        piece, rank 0 streams the pieces through the usual writers (see
        :mod:`.sharding`)."""
        options = self._route_write(overrides, vector_file)
        window = options['window']
        what = f'{job.img1} + {job.img2}'
        with raster_env():
            src1, src2 = self._open(job.img1, job.img2, options)
            try:
                layout = WindowLayout(src1.height, src1.width, window.window,
                                      window.step)
                bands = row_bands(layout, shard.world)
                pieces = [BandPiece(job.out, k, band, src1.width)
                          for k, band in enumerate(bands)]
                failure = None
                try:
                    piece = pieces[shard.rank]
                    piece.create()
                    self._consume(piece, self._rows(src1, src2, options,
                                                    bands[shard.rank]))
                except Exception as exc:  # noqa: BLE001 - every rank fails
                    failure = describe_failure(exc)
                outcomes = gather(failure, shard)
                if any(outcome is not None for outcome in outcomes):
                    pieces[shard.rank].remove()
                    bad = [k for k, o in enumerate(outcomes) if o]
                    raise_first_failure(
                        outcomes, f'on rows {bands[bad[0]][0]}..'
                        f'{bands[bad[0]][1]} of {what}')
                result = (None, None)
                if shard.rank == 0:
                    result = self._merge_pieces(job, vector_file, options,
                                                src1, pieces)
                failure, summary = broadcast(result, shard)
            finally:
                src1.close()
                src2.close()
        if failure is not None:
            raise_first_failure([failure], f'merging the bands of {what}')
        if shard.rank == 0:
            self._warn_nodata(src1, src2, summary)
        return summary

    def _merge_pieces(self, job, vector_file, options, src1, pieces):
        """Rank 0: the pieces, top to bottom, into the output files;
        returns ``(error message or None, summary)``."""
        try:
            writer = self._file_writer(job, vector_file, options, src1)
            summary = self._consume(writer, (
                row for piece in pieces for row in piece.rows()))
            if vector_file is not None:
                summary['polygons'] = writer.vectorizer.count
            return None, summary
        except Exception as exc:  # noqa: BLE001 - every rank fails
            return describe_failure(exc), None
        finally:
            for piece in pieces:
                piece.remove()

    def _route_write(self, overrides: dict,
                     vector_file: Optional[str]) -> dict:
        stages = ('window', 'pixels') + (('polygons', ) if vector_file
                                         else ())
        return route_options(self.options, overrides, stages)

    @staticmethod
    def _file_writer(job: PairJob, vector_file: Optional[str],
                     options: dict, src):
        """The mask (and probability) file writer, with the vectoriser of
        ``vector_file`` when given."""
        def mask_writer():
            return make_file_writer(job.out, job.prob, src.height,
                                    src.width, src.georef)

        if vector_file is None:
            return mask_writer()
        return vectorizing_writer(mask_writer, vector_file, src,
                                  **options['polygons'].as_kwargs())

    def _stream(self, img1: ImageLike, img2: ImageLike, make_writer,
                options: dict):
        """Open the pair and stream its rows into ``make_writer(src1)``;
        returns the writer and the pixel counts."""
        with raster_env():
            src1, src2 = self._open(img1, img2, options)
            try:
                writer = make_writer(src1)
                summary = self._consume(writer,
                                        self._rows(src1, src2, options))
            finally:
                src1.close()
                src2.close()
        self._warn_nodata(src1, src2, summary)
        return writer, summary

    def _open(self, img1: ImageLike, img2: ImageLike, options: dict):
        """The two sources of a pair (see :func:`.sources.open_pair`)."""
        pixels = options['pixels']
        if pixels.channel_order == 'rgb' and not all(
                isinstance(img, np.ndarray) for img in (img1, img2)):
            raise UserError("channel_order='rgb' describes arrays; image "
                            'files are decoded by their format (pass '
                            "arrays, or leave channel_order='bgr')")
        img1, img2 = (to_bgr(img, pixels.channel_order)
                      for img in (img1, img2))
        src1, src2 = open_pair(img1, img2, self.model.backbone_inchannels,
                               max_value=pixels.max_value,
                               nodata=pixels.nodata)
        if min(src1.height, src1.width) < MIN_SIDE:
            print_log(
                f'{src1.name}: {src1.height}x{src1.width} has a side under '
                f'{MIN_SIDE} px, the model\'s total stride; the prediction '
                'carries almost no information', logger='current',
                level=logging.WARNING)
        return src1, src2

    def _rows(self, src1, src2, options: dict,
              band: Optional[Tuple[int, int]] = None
              ) -> Iterator[Tuple[int, np.ndarray, np.ndarray]]:
        """``(first_row, mask, prob)`` blocks: the thresholded mask with
        ``NODATA`` and the probability with NaN where a date is invalid."""
        window = options['window']
        threshold = default_threshold(self.model, window.threshold)
        dtype = resolve_amp(self.model, options['amp'])
        for start, prob, valid in iter_probability_rows(
                self.model, src1, src2, window.window, window.step,
                window.batch_size, options['progress'], dtype, band):
            mask = (prob > threshold).astype(np.uint8)
            mask[~valid] = NODATA
            prob[~valid] = np.nan
            yield start, mask, prob

    @staticmethod
    def _consume(writer, rows) -> dict:
        """Write the row blocks and close the writer (abort it on any
        failure); returns the pixel counts."""
        summary = dict(pixels=0, changed=0, nodata=0)
        try:
            for start, mask, prob in rows:
                writer.write(start, mask, prob)
                for key, value in counts(mask).items():
                    summary[key] += value
        except BaseException:
            writer.abort()
            raise
        writer.close()
        return summary

    @staticmethod
    def _warn_nodata(src1, src2, summary: dict) -> None:
        if summary['nodata']:
            print_log(
                f'{src1.name} + {src2.name}: {summary["nodata"]} of '
                f'{summary["pixels"]} pixels are non-finite or nodata in a '
                'date; they were filled for the model and are nodata in the '
                f'result ({NODATA} in the mask, NaN in the probability)',
                logger='current', level=logging.WARNING)
