"""Load test of ``tools/predict.py``: memory, descriptors, temporary files
and throughput over many pairs and on large scenes.

Each run is one real ``python tools/predict.py ...`` process, started
through :mod:`.load_probe` (which runs the script unchanged as
``__main__`` and records its open descriptors when it is done and its peak
resident memory) with ``TMPDIR`` set to an empty folder of its own. While it
runs, its resident memory (``VmRSS``) and the number of finished outputs
are sampled every :data:`SAMPLE_S` seconds. Afterwards:

* ``peak_rss_mib``: the process's peak resident memory (``getrusage``);
  ``rss_at``: the sampled resident memory when 100, 200, ... pairs were
  done (flat memory: no growth with the number of pairs);
* ``fds_end`` / ``fds_new``: descriptors open when the script is done, and
  those the interpreter did not already hold at its start (a leak would
  grow with the number of pairs);
* ``leftover_tmp`` / ``leftover_out``: files left in ``TMPDIR`` and
  anything in the output folder besides the expected outputs (hidden
  ``.partial`` files, ...);
* ``s_per_100``: seconds per block of 100 pairs, from the outputs'
  modification times (each output is renamed into place when its pair is
  done), and ``decay``: the last block's time over the first's;
  ``cpu_s_per_100`` / ``cpu_decay``: the same in CPU seconds of the
  process (sampled), which other jobs on a shared machine do not inflate.

The inputs are synthetic (:mod:`ftan_tools.datasets.synthetic`): folders of
small pairs, and GeoTIFF scenes tiled from one synthetic pair, written strip
by strip. The checkpoint holds the config's randomly initialised weights
(speed and memory do not depend on the weights).
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from ftan_tools.datasets.synthetic import make_pair

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PREDICT = osp.join(ROOT, 'tools', 'predict.py')
DEMO_CONFIG = osp.join(ROOT, 'configs', 'demo',
                       'ftan-tiny_128x128_demo-cd_cpu.py')
SAMPLE_S = 0.5
BLOCK = 100  # pairs per throughput block
SCENE_TILE = 512  # side of the synthetic pair a scene is tiled from
SUMMARY = 'predict_summary.json'


def write_pairs(root: str, count: int, size: int, seed: int = 0) -> tuple:
    """Write ``count`` synthetic pairs as PNGs in ``root/A`` and ``root/B``.

    Args:
        root (str): Folder to create.
        count (int): Number of pairs.
        size (int): Side of the images.
        seed (int): Seed of the first pair.

    Returns:
        tuple[str, str]: The two folders.
    """
    dirs = tuple(osp.join(root, d) for d in ('A', 'B'))
    for folder in dirs:
        os.makedirs(folder, exist_ok=True)
    for index in range(count):
        a, b, _ = make_pair(np.random.default_rng([seed, index]), size)
        for folder, img in zip(dirs, (a, b)):
            cv2.imwrite(osp.join(folder, f'{index:05d}.png'), img[..., ::-1])
    return dirs


def write_scene(paths: Sequence[str], size: int, seed: int = 0) -> None:
    """Write a ``size`` x ``size`` 3-band uint8 GeoTIFF pair (UTM, 0.5 m),
    tiled from one synthetic pair, strip by strip (bounded memory).

    Args:
        paths (Sequence[str]): Date 1 and date 2 files.
        size (int): Side of the scene.
        seed (int): Seed of the synthetic pair.
    """
    import rasterio
    from rasterio.transform import from_origin
    pair = make_pair(np.random.default_rng(seed), SCENE_TILE)[:2]
    reps = -(-size // SCENE_TILE)
    for path, tile in zip(paths, pair):
        strip = np.tile(np.moveaxis(tile, -1, 0), (1, 1, reps))[..., :size]
        with rasterio.open(path, 'w', driver='GTiff', height=size,
                           width=size, count=3, dtype='uint8',
                           crs='EPSG:32633', tiled=True, compress='deflate',
                           transform=from_origin(5e5, 4.6e6, 0.5, 0.5),
                           BIGTIFF='IF_SAFER') as dst:
            for top in range(0, size, SCENE_TILE):
                rows = min(SCENE_TILE, size - top)
                dst.write(strip[:, :rows],
                          window=rasterio.windows.Window(0, top, size, rows))


def random_checkpoint(config: str, path: str) -> str:
    """Save the config's model with seeded random weights; return ``path``."""
    import torch

    from ftan_opencd.apis import init_model
    torch.manual_seed(0)
    model = init_model(config)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def vm_rss_mib(pid: int) -> Optional[float]:
    """Current resident memory of a process (None once it is gone)."""
    try:
        with open(f'/proc/{pid}/status', encoding='ascii') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU time of a process so far (None once it is gone)."""
    try:
        with open(f'/proc/{pid}/stat', encoding='ascii') as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _outputs_done(out_dir: str, suffixes: Sequence[str]) -> int:
    with os.scandir(out_dir) as entries:
        return sum(1 for e in entries if not e.name.startswith('.')
                   and osp.splitext(e.name)[1] in suffixes)


def block_times(done_times: Sequence[float], block: int = BLOCK
                ) -> List[float]:
    """Seconds per block of ``block`` pairs from their completion times.

    Block ``i`` runs from the completion of the last pair of block ``i-1``
    (the first pair, for block 0, which then counts ``block - 1`` pairs and
    is scaled to ``block``) to that of its own last pair.

    Args:
        done_times (Sequence[float]): Completion times, any order.
        block (int): Pairs per block.
    """
    times = sorted(done_times)
    blocks = []
    for end in range(block - 1, len(times), block):
        if end == block - 1:
            blocks.append((times[end] - times[0]) * block / (block - 1))
        else:
            blocks.append(times[end] - times[end - block])
    return blocks


def run_predict(args: Sequence[str], out_dir: str, expected: Sequence[str],
                work_dir: str, timeout: Optional[float] = None) -> dict:
    """Run ``tools/predict.py ARGS`` under the probe and measure it.

    Args:
        args (Sequence[str]): Arguments of ``tools/predict.py``.
        out_dir (str): Folder of the outputs (created if missing).
        expected (Sequence[str]): Names of the outputs the run should leave
            in ``out_dir``.
        work_dir (str): Folder for the probe's report and ``TMPDIR``.
        timeout (float, optional): Stop the run (SIGTERM) after this many
            seconds; the figures are then partial (``complete`` False).

    Returns:
        dict: The measurements described in the module docstring.
    """
    os.makedirs(out_dir, exist_ok=True)
    tmp = osp.join(work_dir, 'tmp')
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    report = osp.join(work_dir, 'probe.json')
    env = dict(os.environ, TMPDIR=tmp,
               OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'))
    command = [sys.executable, '-m', 'ftan_tools.benchmark.load_probe',
               report, PREDICT, *args]
    suffixes = {osp.splitext(name)[1] for name in expected
                if name != SUMMARY}
    start = time.time()
    samples = []
    with open(osp.join(work_dir, 'predict.log'), 'w') as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                 env=env, cwd=ROOT)
        while child.poll() is None:
            rss, cpu = vm_rss_mib(child.pid), cpu_seconds(child.pid)
            if rss is not None and cpu is not None:
                samples.append((time.time() - start,
                                _outputs_done(out_dir, suffixes), rss, cpu))
            if timeout is not None and time.time() - start > timeout:
                child.terminate()
                child.wait()
                break
            time.sleep(SAMPLE_S)
    wall = time.time() - start
    complete = child.returncode == 0 and osp.isfile(report)
    probe = {}
    if osp.isfile(report):
        with open(report, encoding='utf-8') as f:
            probe = json.load(f)
        os.remove(report)
    names = set(os.listdir(out_dir))
    done = [osp.getmtime(osp.join(out_dir, n)) for n in names & set(expected)
            if n != SUMMARY]
    blocks = block_times(done)
    rss_at, cpu_at = {}, {}
    for _, count, rss, cpu in samples:
        mark = count // BLOCK * BLOCK
        if mark and mark not in rss_at:
            rss_at[mark], cpu_at[mark] = rss, cpu
    marks = sorted(cpu_at)
    cpu_blocks = [cpu_at[b] - cpu_at[a] for a, b in zip(marks, marks[1:])
                  if b - a == BLOCK]
    return dict(
        complete=complete, status=child.returncode, wall_s=wall,
        outputs=len(done), peak_rss_mib=probe.get('peak_rss_mib'),
        max_sampled_rss_mib=max((s[2] for s in samples), default=None),
        rss_at=rss_at, fds_start=probe.get('fds_start'),
        fds_end=probe.get('fds_end'), fds_new=probe.get('fds_new'),
        leftover_tmp=sorted(os.listdir(tmp)),
        leftover_out=sorted(names - set(expected)), s_per_100=blocks,
        decay=blocks[-1] / blocks[0] if len(blocks) > 1 else None,
        cpu_s_per_100=cpu_blocks,
        cpu_decay=(cpu_blocks[-1] / cpu_blocks[0]
                   if len(cpu_blocks) > 1 else None))


def folder_run(work_dir: str, count: int, size: int, config: str,
               checkpoint: str, extra: Sequence[str] = (),
               timeout: Optional[float] = None) -> dict:
    """``tools/predict.py --dir1 --dir2 --out-dir`` over ``count`` pairs of
    ``size`` x ``size`` pixels; :func:`run_predict`'s figures."""
    run_dir = osp.join(work_dir, f'pairs_{count}')
    dir1, dir2 = write_pairs(osp.join(run_dir, 'in'), count, size)
    out_dir = osp.join(run_dir, 'out')
    names = sorted(os.listdir(dir1))
    args = [config, checkpoint, '--dir1', dir1, '--dir2', dir2, '--out-dir',
            out_dir, '--no-progress', *extra]
    result = run_predict(args, out_dir, names + [SUMMARY], run_dir, timeout)
    return dict(run=f'{count} pairs of {size}x{size}', **result)


def scene_run(work_dir: str, size: int, config: str, checkpoint: str,
              extra: Sequence[str] = (),
              timeout: Optional[float] = None) -> dict:
    """``tools/predict.py --img1 --img2 --out`` on a ``size``-pixel square
    GeoTIFF pair; :func:`run_predict`'s figures. The progress bar stays on:
    ``predict.log`` says how many windows a stopped run had done."""
    run_dir = osp.join(work_dir, f'scene_{size}')
    os.makedirs(osp.join(run_dir, 'in'), exist_ok=True)
    paths = [osp.join(run_dir, 'in', f't{i}.tif') for i in (1, 2)]
    write_scene(paths, size)
    out_dir = osp.join(run_dir, 'out')
    args = [config, checkpoint, '--img1', paths[0], '--img2', paths[1],
            '--out', osp.join(out_dir, 'change.tif'), *extra]
    result = run_predict(args, out_dir, ['change.tif'], run_dir, timeout)
    for path in paths:  # the scenes are large
        os.remove(path)
    return dict(run=f'{size}x{size} GeoTIFF scene', **result)


def run_load(work_dir: str, counts: Sequence[int] = (100, 1000),
             scenes: Sequence[int] = (2048, 10000), pair_size: int = 128,
             config: str = DEMO_CONFIG, extra: Sequence[str] = (),
             timeout: Optional[float] = None) -> List[dict]:
    """All runs, one after the other; returns their figures.

    Args:
        work_dir (str): Folder of inputs, outputs and checkpoint.
        counts (Sequence[int]): Pairs per folder run.
        scenes (Sequence[int]): Sides of the scene runs.
        pair_size (int): Side of the small pairs.
        config (str): Model config.
        extra (Sequence[str]): More ``tools/predict.py`` options.
        timeout (float, optional): Per run; see :func:`run_predict`.
    """
    os.makedirs(work_dir, exist_ok=True)
    checkpoint = random_checkpoint(config, osp.join(work_dir, 'random.pth'))
    results = [folder_run(work_dir, n, pair_size, config, checkpoint, extra,
                          timeout) for n in counts]
    results += [scene_run(work_dir, s, config, checkpoint, extra, timeout)
                for s in scenes]
    return results


def _fmt(value, spec: str = '.0f') -> str:
    return '-' if value is None else format(value, spec)


def markdown(results: Sequence[Dict]) -> str:
    """The figures as a Markdown table plus the per-block times."""
    lines = ['| run | complete | wall s | peak RSS MiB | fds end (new) | '
             'leftover tmp / out | s per 100 pairs (first, last) | decay |',
             '|---|---|---|---|---|---|---|---|']
    for r in results:
        blocks = r['s_per_100']
        lines.append(
            f'| {r["run"]} | {"yes" if r["complete"] else "NO"} | '
            f'{r["wall_s"]:.0f} | {_fmt(r["peak_rss_mib"])} | '
            f'{_fmt(r["fds_end"], "d")} ({len(r["fds_new"] or {})}) | '
            f'{len(r["leftover_tmp"])} / {len(r["leftover_out"])} | '
            + (f'{blocks[0]:.1f}, {blocks[-1]:.1f}' if blocks else '-')
            + f' | {_fmt(r["decay"], ".2f")} |')
    for r in results:
        if r['rss_at']:
            lines.append(f'\n{r["run"]}: RSS (MiB) when N pairs were done: '
                         + ', '.join(f'{n}: {v:.0f}'
                                     for n, v in sorted(r['rss_at'].items())))
        if len(r['s_per_100']) > 1:
            lines.append(f'{r["run"]}: seconds per block of 100 pairs: '
                         + ', '.join(f'{b:.1f}' for b in r['s_per_100']))
        if r['cpu_s_per_100']:
            lines.append(f'{r["run"]}: CPU seconds per block of 100 pairs '
                         '(from 100 done): ' + ', '.join(
                             f'{b:.1f}' for b in r['cpu_s_per_100']))
        if r['fds_new']:
            lines.append(f'{r["run"]}: descriptors open at the end that the '
                         f'interpreter did not hold at its start: '
                         + ', '.join(sorted(set(r['fds_new'].values()))))
    return '\n'.join(lines) + '\n'
