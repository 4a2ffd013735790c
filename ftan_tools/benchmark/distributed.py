"""1 vs N processes of tools/predict.py: a folder of pairs and one scene.

Each run is ``python tools/predict.py`` (1 process) or ``bash
tools/dist_predict.sh CONFIG CHECKPOINT N`` (torchrun, as users run it),
one thread per process (``OMP_NUM_THREADS=1``), one run at a time, on
synthetic inputs and the config's seeded random weights (timings equal a
trained model's). The process counts take turns, ``repeat`` rounds, and the
median wall time is reported, so that a slow spell of a shared machine
does not land on one side only. The wall time includes start-up and exit
(imports of the OpenMMLab stack and the model build in every rank, and
torchrun's own), which is measured apart (median of as many runs) by the
same command on a single 64² pair, so that the speed-up of the work itself
is reported too. The resident memory of every ``tools/predict.py`` process
is sampled while it runs (the peak over the rounds).
"""
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Sequence

from ftan_opencd.apis.sliding_window import WindowLayout
from .load import (DEMO_CONFIG, PREDICT, ROOT, random_checkpoint,
                   vm_rss_mib, write_pairs, write_scene)

SAMPLE_S = 0.2
DIST_PREDICT = osp.join(ROOT, 'tools', 'dist_predict.sh')


def _predict_pids(root: int) -> List[int]:
    """The tools/predict.py processes (ranks, not the torchrun agent)
    among ``root`` and its descendants."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                argv = f.read()
            if b'tools/predict.py' in argv and \
                    b'torch.distributed.run' not in argv:  # not torchrun
                found.append(pid)
            with open(f'/proc/{pid}/task/{pid}/children') as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return found


def timed_run(command: Sequence[str], env: dict) -> Dict:
    """Run ``command``; wall seconds and the peak RSS of each predict
    process (MiB), sampled every :data:`SAMPLE_S` seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    peaks = {}
    while proc.poll() is None:
        for pid in _predict_pids(proc.pid):
            rss = vm_rss_mib(pid)
            if rss is not None:
                peaks[pid] = max(peaks.get(pid, 0.0), rss)
        time.sleep(SAMPLE_S)
    wall = time.perf_counter() - start
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(command)} failed '
                           f'({proc.returncode}):\n{err[-3000:]}')
    return dict(wall_s=wall, peak_rss_mib=sorted(peaks.values()))


def predict_command(procs: int, config: str, checkpoint: str,
                    args: Sequence[str]) -> List[str]:
    """tools/predict.py in one process, or tools/dist_predict.sh."""
    if procs == 1:
        return [sys.executable, PREDICT, config, checkpoint, *args]
    return ['bash', DIST_PREDICT, config, checkpoint, str(procs), *args]


def timed_rounds(commands: Dict[int, Sequence[str]], env: dict,
                 repeat: int) -> Dict[int, Dict]:
    """Run the command of every process count in turn, ``repeat`` rounds;
    per count the median wall time, all wall times and the peak RSS of
    each rank (the highest over the rounds)."""
    runs = {count: [] for count in commands}
    for _ in range(repeat):
        for count, command in commands.items():
            runs[count].append(timed_run(command, env))
    return {count: dict(
        wall_s=statistics.median(r['wall_s'] for r in results),
        walls_s=[r['wall_s'] for r in results],
        peak_rss_mib=[max(ranks) for ranks in zip(
            *(r['peak_rss_mib'] for r in results))])
        for count, results in runs.items()}


def run_distributed(work_dir: str, pairs: int = 64, pair_size: int = 256,
                    scene: int = 4096, procs: Sequence[int] = (1, 2),
                    config: str = DEMO_CONFIG, window: int = 256,
                    port: int = 29650, repeat: int = 1) -> List[Dict]:
    """Time the folder and the scene workloads for each process count.

    Args:
        work_dir (str): Folder of inputs and outputs.
        pairs (int): Pairs in the folder. 0 skips the folder workload.
        pair_size (int): Side of the pairs.
        scene (int): Side of the scene. 0 skips the scene workload.
        procs (Sequence[int]): Process counts; the first is the baseline of
            the speed-up.
        config (str): Model config.
        window (int): ``--window`` (the stride is the default 3/4).
        port (int): torchrun's rendezvous port.
        repeat (int): Rounds; the median wall time is reported.

    Returns:
        list[dict]: One row per workload and process count.
    """
    os.makedirs(work_dir, exist_ok=True)
    checkpoint = random_checkpoint(config, osp.join(work_dir, 'random.pth'))
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(port),
               PYTHON=sys.executable)
    workloads = []
    if pairs:
        dir1, dir2 = write_pairs(osp.join(work_dir, 'pairs'), pairs,
                                 pair_size)
        workloads.append(('folder', f'{pairs} pairs of {pair_size}²', pairs,
                          'pairs', lambda out: [
                              '--dir1', dir1, '--dir2', dir2, '--out-dir',
                              out, '--window', str(window), '--no-progress']))
    if scene:
        paths = [osp.join(work_dir, f't{i}.tif') for i in (1, 2)]
        write_scene(paths, scene)
        windows = len(WindowLayout(scene, scene, window, window * 3 // 4))
        workloads.append(('scene', f'one {scene}² GeoTIFF', windows,
                          'windows', lambda out: [
                              '--img1', paths[0], '--img2', paths[1], '--out',
                              osp.join(out, 'change.tif'), '--window',
                              str(window), '--no-progress']))
    tiny = write_pairs(osp.join(work_dir, 'tiny'), 1, 64)
    startup = timed_rounds({count: predict_command(
        count, config, checkpoint,
        ['--dir1', tiny[0], '--dir2', tiny[1], '--out-dir',
         osp.join(work_dir, f'tiny_{count}'), '--window', str(window),
         '--no-progress']) for count in procs}, env, repeat)
    rows = []
    for name, what, units, unit, args in workloads:
        base = None
        results = timed_rounds({count: predict_command(
            count, config, checkpoint,
            args(osp.join(work_dir, f'{name}_{count}')))
            for count in procs}, env, repeat)
        for count in procs:
            result = results[count]
            work = max(result['wall_s'] - startup[count]['wall_s'], 1e-3)
            base = base or (result['wall_s'], work)
            rows.append(dict(workload=name, input=what, procs=count,
                             units=units, unit=unit, **result,
                             startup_s=startup[count]['wall_s'],
                             work_s=work,
                             per_s=units / result['wall_s'],
                             speedup=base[0] / result['wall_s'],
                             work_speedup=base[1] / work))
    return rows


def markdown(rows: Sequence[Dict]) -> str:
    """The rows as a Markdown table."""
    rounds = len(rows[0]['walls_s']) if rows else 0
    lines = [f'| workload | processes | wall time (median of {rounds}) | '
             'throughput | speed-up | '
             'start-up + exit | speed-up without it | peak RSS per rank |',
             '|---|---|---|---|---|---|---|---|']
    for r in rows:
        rss = ', '.join(f'{m:.0f}' for m in r['peak_rss_mib'])
        lines.append(f'| {r["input"]} | {r["procs"]} | {r["wall_s"]:.1f} s '
                     f'| {r["per_s"]:.2f} {r["unit"]}/s | '
                     f'{r["speedup"]:.2f}x | {r["startup_s"]:.1f} s | '
                     f'{r["work_speedup"]:.2f}x | {rss} MiB |')
    return '\n'.join(lines)
