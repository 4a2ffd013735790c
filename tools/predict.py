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
1 when any pair failed.
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmengine.config import DictAction

from ftan_opencd.apis import init_model, predict_pair_to_file
from ftan_opencd.apis.folders import output_name, pair_folders
from ftan_opencd.apis.vectorize import check_vector_file, check_vector_options
from ftan_opencd.apis.writers import check_output_files
from ftan_opencd.pixels import is_raster_path
from ftan_opencd.cli import add_trust_argument


def parse_args(argv=None):
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
    parser.add_argument('--window', type=int, default=256,
                        help='window side (default: 256)')
    parser.add_argument('--stride', type=int, default=None,
                        help='step between windows, at most --window '
                        '(default: 3/4 of the window, 192 for 256)')
    parser.add_argument('--batch-size', type=int, default=8,
                        help='windows per forward pass (default: 8)')
    parser.add_argument('--prob', action='store_true',
                        help='also write the change probability')
    parser.add_argument('--threshold', type=float, default=None,
                        help='change probability threshold (default: 0.5, '
                        'or the head threshold of a sigmoid head)')
    parser.add_argument('--max-value', type=float, default=None,
                        help='full-scale value of the images, e.g. 4095 for '
                        '12-bit data in uint16 files, 1.0 for reflectance '
                        '(default: 255 for 8-bit, 65535 for 16-bit)')
    parser.add_argument('--nodata', type=float, default=None,
                        help='value of pixels without data in the inputs '
                        "(default: a GeoTIFF's declared nodata); such "
                        'pixels, and NaN/inf ones, are nodata in the output')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
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
    area.add_argument('--min-area', type=int, default=0, metavar='PIXELS',
                      help='drop objects of fewer pixels (default: 0)')
    area.add_argument('--min-area-map', type=float, default=None,
                      metavar='AREA', help='drop objects smaller than AREA in '
                      'map units (CRS units squared; GeoTIFF input only)')
    vector.add_argument('--simplify', type=float, default=None,
                        metavar='TOL', help='simplify the outlines with this '
                        'tolerance (map units; pixels for PNG/JPG input); '
                        'default: exact pixel outlines')
    vector.add_argument('--connectivity', type=int, choices=(4, 8),
                        default=4, help='pixels of one object share an edge '
                        '(4, default) or an edge or a corner (8)')
    add_trust_argument(parser)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    args = parser.parse_args(argv)
    single = [args.img1, args.img2, args.out]
    folders = [args.dir1, args.dir2, args.out_dir]
    if not (all(single) and not any(folders)
            or all(folders) and not any(single)):
        parser.error('give either --img1, --img2 and --out, or --dir1, '
                     '--dir2 and --out-dir')
    if args.stride is None:
        args.stride = max(1, args.window * 3 // 4)
    if args.window < 1 or not 1 <= args.stride <= args.window:
        parser.error(f'need 1 <= --stride <= --window, got --window '
                     f'{args.window} --stride {args.stride}')
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.threshold is not None and not 0 < args.threshold < 1:
        parser.error('--threshold must be a probability strictly between 0 '
                     f'and 1, got {args.threshold}')
    check_vector_args(parser, args)
    return args


def check_vector_args(parser, args) -> None:
    """Refuse polygon options without ``--vector`` or with bad values."""
    given = [name for name, value, default in (
        ('--min-area', args.min_area, 0),
        ('--min-area-map', args.min_area_map, None),
        ('--simplify', args.simplify, None),
        ('--connectivity', args.connectivity, 4)) if value != default]
    if args.vector is None:
        if given:
            parser.error(f'{", ".join(given)} describe the polygons of '
                         '--vector FILE; add it')
        return
    if args.dir1:
        parser.error('--vector writes the polygons of one pair: use it with '
                     '--img1/--img2/--out')
    try:
        check_vector_options(args.min_area, args.min_area_map,
                             args.simplify, args.connectivity)
    except ValueError as exc:
        parser.error(str(exc))
    if args.min_area_map is not None and not is_raster_path(args.img1):
        parser.error(f'--min-area-map is in map units and {args.img1} is '
                     'not a GeoTIFF: give --min-area in pixels')


def prob_path(out_file: str) -> str:
    """``<out stem>_prob<out suffix>``."""
    stem, suffix = osp.splitext(out_file)
    return f'{stem}_prob{suffix}'


def vector_options(args) -> dict:
    """Keyword arguments of :func:`predict_pair_to_file` for ``--vector``
    (none without it)."""
    if args.vector is None:
        return {}
    return dict(vector_file=args.vector, min_area=args.min_area,
                min_area_map=args.min_area_map, simplify=args.simplify,
                connectivity=args.connectivity)


def folder_jobs(args):
    """(img1, img2, out) for every name present in both folders."""
    names, only1, only2 = pair_folders(args.dir1, args.dir2)
    for folder, unmatched in ((args.dir1, only1), (args.dir2, only2)):
        if unmatched:
            print(f'{len(unmatched)} image(s) only in {folder}, skipped: '
                  f'{", ".join(unmatched)}')
    if not names:
        raise SystemExit(f'no file name is in both {args.dir1} and '
                         f'{args.dir2}')
    return [(osp.join(args.dir1, name), osp.join(args.dir2, name),
             osp.join(args.out_dir, output_name(name))) for name in names]


def write_summary(out_dir: str, results: list) -> str:
    """Write ``predict_summary.json`` (status of every pair) atomically."""
    path = osp.join(out_dir, 'predict_summary.json')
    failed = [r for r in results if r['status'] != 'ok']
    partial = path + '.partial'
    os.makedirs(out_dir, exist_ok=True)
    with open(partial, 'w') as f:
        json.dump(dict(complete=not failed, pairs=len(results),
                       failed=len(failed), results=results), f, indent=1)
    os.replace(partial, path)
    return path


def main(argv=None):
    args = parse_args(argv)
    jobs = [(args.img1, args.img2, args.out)] if args.img1 else \
        folder_jobs(args)
    for img1, img2, out in jobs:  # before the model is built
        check_output_files(out, prob_path(out) if args.prob else None,
                           (img1, img2))
    if args.vector is not None:
        try:
            check_vector_file(args.vector, (
                args.img1, args.img2, args.out,
                prob_path(args.out) if args.prob else None))
        except (ImportError, ValueError) as exc:
            raise SystemExit(f'error: --vector {args.vector}: {exc}') from exc
    model = init_model(args.config, args.checkpoint, args.device,
                       args.cfg_options,
                       trust_checkpoint=args.trust_checkpoint or None)
    results = []
    for img1, img2, out in jobs:
        try:
            summary = predict_pair_to_file(
                model, img1, img2, out,
                prob_file=prob_path(out) if args.prob else None,
                window=args.window, stride=args.stride,
                batch_size=args.batch_size, threshold=args.threshold,
                progress=not args.no_progress, max_value=args.max_value,
                nodata=args.nodata, amp=args.amp, **vector_options(args))
        except Exception as exc:  # noqa: BLE001 - reported, the run goes on
            if len(jobs) == 1:
                raise
            print(f'\nfailed {img1} + {img2}: {type(exc).__name__}: {exc}')
            results.append(dict(img1=img1, img2=img2, out=out,
                                status='failed', error=str(exc)))
            continue
        print(f'\n{img1} + {img2} -> {out} ({summary["changed"]} changed, '
              f'{summary["nodata"]} nodata of {summary["pixels"]} pixels)')
        if args.vector is not None:
            print(f'{summary["polygons"]} change polygon(s) -> {args.vector}')
        results.append(dict(img1=img1, img2=img2, out=out, status='ok',
                            **summary))
    if args.out_dir:
        path = write_summary(args.out_dir, results)
        failed = sum(r['status'] != 'ok' for r in results)
        print(f'{len(results) - failed} of {len(results)} pair(s) written; '
              f'summary: {path}' + (f' (INCOMPLETE: {failed} failed)'
                                    if failed else ''))
    return 1 if any(r['status'] != 'ok' for r in results) else 0


if __name__ == '__main__':
    sys.exit(main())
