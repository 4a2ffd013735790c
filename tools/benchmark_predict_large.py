"""Time and peak memory of tools/predict.py on a large synthetic GeoTIFF pair.

    python tools/benchmark_predict_large.py [--config CONFIG] [--size 10000] \
        [--window 256] [--stride 192] [--batch-size 8] [--threads N] \
        [--work-dir DIR] [--keep] [--cfg-options k=v ...]

Writes a synthetic 3-band uint8 GeoTIFF pair of ``size`` x ``size`` pixels
(UTM CRS, 0.5 m pixels, generated band by band), a checkpoint of randomly
initialised weights of the config's model, then runs

    /usr/bin/time -v python tools/predict.py CONFIG CKPT --img1 .. --img2 ..
        --out change.tif ...

and reports the wall time, the peak resident memory (``Maximum resident set
size``) and the time per window, and checks that the output GeoTIFF carries
the inputs' CRS and geotransform. Needs GNU time at /usr/bin/time. The
default config is the CPU demo's small FTAN; timings of random weights equal
those of trained weights.
"""
import argparse
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

from mmengine.config import DictAction

from ftan_opencd.apis import FTANInferencer, WindowOptions
from ftan_opencd.apis.sliding_window import WindowLayout
from ftan_opencd.pixels import import_rasterio
from ftan_opencd.errors import UserError, exit_on_user_error
from ftan_opencd.utils.user_errors import check_config_path

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(ROOT, 'configs', 'demo',
                       'ftan-tiny_128x128_demo-cd_cpu.py')
ROWS_PER_WRITE = 512
WINDOW = WindowOptions()  # the defaults of tools/predict.py


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEMO_CONFIG,
                        help='model config (default: the CPU demo FTAN)')
    parser.add_argument('--size', type=int, default=10000,
                        help='side of the square scene (default: 10000)')
    parser.add_argument('--window', type=int, default=WINDOW.window)
    parser.add_argument('--stride', type=int, default=WINDOW.stride,
                        help='default: 3/4 of the window, as predict.py')
    parser.add_argument('--batch-size', type=int,
                        default=WINDOW.batch_size)
    parser.add_argument('--threads', type=int, default=None,
                        help='OMP_NUM_THREADS of the prediction (default: '
                        'inherited)')
    parser.add_argument('--work-dir', default=None,
                        help='folder of the temporary files (default: a '
                        'new temporary folder)')
    parser.add_argument('--keep', action='store_true',
                        help='keep the generated files')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={}, help='config overrides, passed on to '
                        'tools/predict.py as well')
    return parser.parse_args(argv)


def synthetic_rows(start: int, stop: int, size: int, changed: bool):
    """Rows of a textured scene; date 2 adds bright rectangles."""
    rows = np.arange(start, stop, dtype=np.float32)[:, None]
    cols = np.arange(size, dtype=np.float32)[None, :]
    base = 128 + 60 * np.sin(rows / 37.0) * np.cos(cols / 53.0)
    bands = [base + 30 * np.sin((rows + 11 * k) / (7.0 + k)) for k in range(3)]
    img = np.stack(bands).astype(np.float32)
    if changed:
        blocks = ((rows // 700) % 3 == 1) & ((cols // 900) % 4 == 2)
        img[:, blocks] = 240
    return np.clip(img, 0, 255).astype(np.uint8)


def write_scene(path: str, size: int, changed: bool):
    """Write one date as a tiled, compressed GeoTIFF, block by block."""
    rasterio = import_rasterio()
    transform = rasterio.transform.from_origin(500000.0, 4600000.0, 0.5, 0.5)
    with rasterio.open(path, 'w', driver='GTiff', height=size, width=size,
                       count=3, dtype='uint8', crs='EPSG:32633',
                       transform=transform, tiled=True, blockxsize=256,
                       blockysize=256, compress='deflate',
                       BIGTIFF='IF_SAFER') as dst:
        for start in range(0, size, ROWS_PER_WRITE):
            stop = min(start + ROWS_PER_WRITE, size)
            window = rasterio.windows.Window(0, start, size, stop - start)
            dst.write(synthetic_rows(start, stop, size, changed),
                      window=window)


def parse_time_report(report: str) -> dict:
    """Wall time (s) and peak RSS (MiB) from GNU time's -v report."""
    rss = re.search(r'Maximum resident set size \(kbytes\): (\d+)', report)
    wall = re.search(r'Elapsed \(wall clock\) time.*: ([\d:.]+)', report)
    if rss is None or wall is None:
        raise RuntimeError(f'unexpected /usr/bin/time output:\n{report}')
    seconds = 0.0
    for part in wall.group(1).split(':'):
        seconds = seconds * 60 + float(part)
    return dict(wall_s=seconds, peak_rss_mib=int(rss.group(1)) / 1024)


def check_output(out: str, reference: str):
    """The mask has the size, CRS and geotransform of the input."""
    rasterio = import_rasterio()
    with rasterio.open(out) as mask, rasterio.open(reference) as ref:
        same = (mask.crs == ref.crs and mask.transform == ref.transform
                and mask.shape == ref.shape)
        if not same:
            raise RuntimeError(f'{out} lost the georeferencing of '
                               f'{reference}')


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    window = WindowOptions(args.window, args.stride, args.batch_size)
    check_config_path(args.config, '--config')
    if not osp.isfile('/usr/bin/time'):
        raise UserError('GNU time (/usr/bin/time) is needed: apt-get '
                        'install time')
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='ftan_bench_')
    os.makedirs(work_dir, exist_ok=True)
    try:
        img1, img2 = (osp.join(work_dir, f't{i}.tif') for i in (1, 2))
        out = osp.join(work_dir, 'change.tif')
        checkpoint = osp.join(work_dir, 'random_weights.pth')
        print(f'writing the {args.size}x{args.size} pair to {work_dir}')
        write_scene(img1, args.size, changed=False)
        write_scene(img2, args.size, changed=True)
        torch.manual_seed(0)
        model = FTANInferencer(args.config,
                               cfg_options=args.cfg_options).model
        torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
        command = [
            '/usr/bin/time', '-v', sys.executable,
            osp.join(ROOT, 'tools', 'predict.py'), args.config, checkpoint,
            '--img1', img1, '--img2', img2, '--out', out, '--window',
            str(window.window), '--stride', str(window.step), '--batch-size',
            str(window.batch_size), '--no-progress'
        ]
        if args.cfg_options:
            command += ['--cfg-options'] + [
                f'{key}={value}' for key, value in args.cfg_options.items()
            ]
        env = dict(os.environ)
        if args.threads is not None:
            env['OMP_NUM_THREADS'] = str(args.threads)
        print(' '.join(command))
        run = subprocess.run(command, env=env, stderr=subprocess.PIPE,
                             text=True)
        if run.returncode != 0:
            raise RuntimeError(f'prediction failed:\n{run.stderr}')
        stats = parse_time_report(run.stderr)
        check_output(out, img1)
        windows = len(WindowLayout(args.size, args.size, window.window,
                                   window.step))
        threads = args.threads or 'default'
        wall = stats['wall_s']
        print(f'config: {args.config} {args.cfg_options or ""}\n'
              f'scene: {args.size}x{args.size}, {windows} windows of '
              f'{window.window} (stride {window.step}), batch '
              f'{window.batch_size}, threads {threads}\n'
              f'wall time: {wall:.1f} s ({wall / windows:.3f} s/window incl. '
              'start-up)\n'
              f'peak RSS: {stats["peak_rss_mib"]:.0f} MiB\n'
              'output GeoTIFF keeps CRS and geotransform: yes')
    finally:
        if not args.keep and args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
