"""Change mask of image pairs of any size (sliding windows, blended).

Single pair:

    python tools/predict.py CONFIG CHECKPOINT --img1 A.tif --img2 B.tif \
        --out change.tif [--prob] [--threshold 0.5] [--window 256] \
        [--stride 192] [--batch-size 8] [--max-value V] [--nodata V] \
        [--device cpu] [--amp] [--trust-checkpoint]

(the stride defaults to 3/4 of the window)

Change polygons (GeoPackage or GeoJSON, in the CRS of img1; pixel
coordinates for PNG/JPG pairs), vectorised band by band as the rows are
predicted:

    python tools/predict.py CONFIG CHECKPOINT --img1 A.tif --img2 B.tif \
        --out change.tif --vector changes.gpkg [--min-area 20 | \
        --min-area-map 50] [--simplify 0.5] [--connectivity 4]

Several processes (torchrun or srun; ``tools/slurm_predict.sh``): add
``--launcher pytorch|slurm``; a folder is shared out by pair, one scene by
row bands, with the same outputs as one process.

Folders (pairs matched by identical file name):

    python tools/predict.py CONFIG CHECKPOINT --dir1 A/ --dir2 B/ \
        --out-dir masks/

A .tif/.tiff output is a GeoTIFF (0/1, nodata 255, CRS and geotransform of
img1); a .png output an image of 0/255; other suffixes are refused before
the model is loaded. ``--prob`` also writes the change probability next to
each mask as ``<name>_prob.<ext>`` (float32 GeoTIFF with NaN nodata, or
8-bit PNG of 255 * p). Files appear only when complete. In folder mode a
failing pair is reported and the run goes on; ``predict_summary.json`` in
the output folder says whether the run is complete, and the exit status is
1 when any pair failed. ``--skip-existing`` keeps the pairs whose outputs
exist (outputs appear only complete), so a rerun after a killed run does
only what is missing.

The defaults are those of :mod:`ftan_opencd.apis.options`, shared with the
Python API (:class:`ftan_opencd.apis.FTANInferencer`).
"""
import argparse
import sys

from mmengine.config import DictAction

from ftan_opencd.apis import (FTANInferencer, PairJob, PixelOptions,
                              PolygonOptions, WindowOptions)
from ftan_opencd.apis.pair_jobs import check_jobs, folder_jobs, prob_path
from ftan_opencd.pixels import is_raster_path
from ftan_opencd.cli import add_trust_argument
from ftan_opencd.cli.inference_group import (LAUNCHERS, join_inference_group,
                                             leave_inference_group)
from ftan_opencd.errors import UserError, exit_on_user_error
from ftan_opencd.utils.user_errors import check_tool_paths

WINDOW, PIXELS, POLYGONS = WindowOptions(), PixelOptions(), PolygonOptions()


def build_parser() -> argparse.ArgumentParser:
    """The options of the tool; their defaults are the API's."""
    parser = argparse.ArgumentParser(
        description='Predict change masks of image pairs of any size')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--img1', help='date 1 image (PNG/JPG/GeoTIFF)')
    parser.add_argument('--img2', help='date 2 image, same size')
    parser.add_argument('--out', help='output mask (.tif -> GeoTIFF, else '
                        'PNG of 0/255)')
    parser.add_argument('--dir1', help='folder of date 1 images')
    parser.add_argument('--dir2', help='folder of date 2 images')
    parser.add_argument('--out-dir', help='folder of the output masks')
    parser.add_argument('--skip-existing', action='store_true',
                        help='folder mode: keep the pairs whose outputs '
                        'exist (e.g. after a killed run)')
    parser.add_argument('--window', type=int, default=WINDOW.window,
                        help=f'window side (default: {WINDOW.window})')
    parser.add_argument('--stride', type=int, default=WINDOW.stride,
                        help='step between windows, at most --window '
                        f'(default: 3/4 of the window, {WINDOW.step} for '
                        f'{WINDOW.window})')
    parser.add_argument('--batch-size', type=int, default=WINDOW.batch_size,
                        help='windows per forward pass (default: '
                        f'{WINDOW.batch_size})')
    parser.add_argument('--prob', action='store_true',
                        help='also write the change probability')
    parser.add_argument('--threshold', type=float, default=WINDOW.threshold,
                        help='change probability threshold (default: 0.5, '
                        'or the head threshold of a sigmoid head)')
    parser.add_argument('--max-value', type=float, default=PIXELS.max_value,
                        help='full-scale value of the images, e.g. 4095 for '
                        '12-bit data in uint16 files, 1.0 for reflectance '
                        '(default: 255 for 8-bit, 65535 for 16-bit)')
    parser.add_argument('--nodata', type=float, default=PIXELS.nodata,
                        help='value of pixels without data in the inputs '
                        "(default: a GeoTIFF's declared nodata); such "
                        'pixels, and NaN/inf ones, are nodata in the output')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='several processes (pytorch = torchrun, or '
                        'srun): a folder is shared out by pair, one scene by '
                        'row bands')
    parser.add_argument('--amp', action='store_true',
                        help='autocast: bfloat16 on CPUs with native bfloat16 '
                        '(AVX-512 BF16 / AMX; float32 elsewhere), bfloat16 or '
                        'float16 on GPUs')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    vector = parser.add_argument_group(
        'change polygons (need the [geo] extra: rasterio, shapely, pyogrio)')
    vector.add_argument('--vector', metavar='FILE',
                        help='also write the change polygons to FILE '
                        '(.gpkg or .geojson; single pair only), with the '
                        'attributes area_px, area_map, prob_mean, prob_max')
    area = vector.add_mutually_exclusive_group()
    area.add_argument('--min-area', type=int, default=POLYGONS.min_area,
                      metavar='PIXELS', help='drop objects of fewer pixels '
                      f'(default: {POLYGONS.min_area})')
    area.add_argument('--min-area-map', type=float,
                      default=POLYGONS.min_area_map, metavar='AREA',
                      help='drop objects smaller than AREA in map units (CRS '
                      'units squared; GeoTIFF input only)')
    vector.add_argument('--simplify', type=float, default=POLYGONS.simplify,
                        metavar='TOL', help='simplify the outlines with this '
                        'tolerance (map units; pixels for PNG/JPG input); '
                        'default: exact pixel outlines')
    vector.add_argument('--connectivity', type=int, choices=(4, 8),
                        default=POLYGONS.connectivity,
                        help='pixels of one object share an edge (4, '
                        'default) or an edge or a corner (8)')
    add_trust_argument(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser


def parse_args(argv=None):
    """Parse and check the arguments; ``args.options`` holds the stages."""
    parser = build_parser()
    args = parser.parse_args(argv)
    single = [args.img1, args.img2, args.out]
    folders = [args.dir1, args.dir2, args.out_dir]
    if not (all(single) and not any(folders)
            or all(folders) and not any(single)):
        parser.error('give either --img1, --img2 and --out, or --dir1, '
                     '--dir2 and --out-dir')
    if args.skip_existing and not args.dir1:
        parser.error('--skip-existing belongs to folder runs (--dir1, '
                     '--dir2, --out-dir)')
    try:
        args.options = dict(
            window=WindowOptions(args.window, args.stride, args.batch_size,
                                 args.threshold),
            pixels=PixelOptions(args.max_value, args.nodata),
            polygons=PolygonOptions(args.min_area, args.min_area_map,
                                    args.simplify, args.connectivity))
    except UserError as exc:
        parser.error(str(exc))
    check_vector_args(parser, args)
    return args


def check_vector_args(parser, args) -> None:
    """Refuse polygon options without ``--vector`` or out of place."""
    given = ['--' + name.replace('_', '-')
             for name in args.options['polygons'].changed()]
    if args.vector is None:
        if given:
            parser.error(f'{", ".join(given)} describe the polygons of '
                         '--vector FILE; add it')
        return
    if args.dir1:
        parser.error('--vector writes the polygons of one pair: use it with '
                     '--img1/--img2/--out')
    if args.min_area_map is not None and not is_raster_path(args.img1):
        parser.error(f'--min-area-map is in map units and {args.img1} is '
                     'not a GeoTIFF: give --min-area in pixels')


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    if args.img1:
        jobs = [PairJob(args.img1, args.img2, args.out,
                        prob_path(args.out) if args.prob else None)]
    else:
        jobs = folder_jobs(args.dir1, args.dir2, args.out_dir, args.prob)
    check_jobs(jobs, args.vector)  # before the model is built
    check_tool_paths(args.config, args.checkpoint)
    device = join_inference_group(args.launcher, args.device)
    try:
        inferencer = FTANInferencer(
            args.config, args.checkpoint, device,
            cfg_options=args.cfg_options,
            trust_checkpoint=args.trust_checkpoint or None, amp=args.amp,
            progress=not args.no_progress, **args.options)
        report = inferencer.run_jobs(jobs, vector_file=args.vector,
                                     summary_dir=args.out_dir,
                                     skip_existing=args.skip_existing)
    finally:
        leave_inference_group()
    return 0 if report['complete'] else 1


if __name__ == '__main__':
    sys.exit(main())
