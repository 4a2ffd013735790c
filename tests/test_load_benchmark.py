"""The load test of tools/predict.py (tools/benchmark_load.py): the probe
sees what a script leaves open, and tiny real runs give sane figures."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from ftan_tools.benchmark.load import block_times, markdown
from .conftest import REPO, load_tool


def run_probe(tmp_path, body):
    script = tmp_path / 'script.py'
    script.write_text(body)
    report = tmp_path / 'report.json'
    done = subprocess.run(
        [sys.executable, '-m', 'ftan_tools.benchmark.load_probe',
         str(report), str(script), 'x', 'y'], capture_output=True, text=True,
        cwd=REPO)
    return done, json.loads(report.read_text())


def test_probe_reports_descriptors_left_open_and_the_exit_status(tmp_path):
    kept = tmp_path / 'kept.txt'
    done, report = run_probe(tmp_path, (
        'import sys\n'
        f'kept = open({str(kept)!r}, "w")\n'
        f'with open({str(tmp_path / "closed.txt")!r}, "w"):\n'
        '    pass\n'
        'big = bytearray(200 * 2**20)  # 200 MiB, touched\n'
        'print(sys.argv[1:], __name__)\n'
        'sys.exit(3)\n'))
    assert done.returncode == 3 == report['status']
    assert done.stdout.strip() == "['x', 'y'] __main__"
    assert list(report['fds_new'].values()) == [str(kept)]
    assert report['fds_end'] == report['fds_start'] + 1
    assert report['peak_rss_mib'] > 200


def test_probe_passes_a_message_exit_on(tmp_path):
    done, report = run_probe(tmp_path, 'raise SystemExit("error: bad")\n')
    assert done.returncode == 1 == report['status']
    assert done.stderr.strip() == 'error: bad'
    assert report['fds_new'] == {}


def test_block_times_per_100_pairs():
    # a pair every 0.5 s for 100 pairs, then every 1 s for 100
    times = [0.5 * i for i in range(100)] + [49.5 + i for i in range(1, 101)]
    blocks = block_times(list(reversed(times)))
    assert blocks == pytest.approx([49.5 * 100 / 99, 100.0])
    assert block_times(times[:99]) == []


@pytest.mark.needs_torchvision
def test_tiny_load_run_gives_sane_figures(tmp_path, capsys):
    out = tmp_path / 'load.json'
    status = load_tool('benchmark_load').main([
        '--counts', '2', '6', '--scenes', '96', '--pair-size', '64',
        '--work-dir', str(tmp_path / 'work'), '--out', str(out)])
    assert status == 0
    few, more, scene = json.loads(out.read_text())
    assert [r['outputs'] for r in (few, more, scene)] == [2, 6, 1]
    for r in (few, more, scene):
        assert r['complete'] and r['status'] == 0
        assert r['leftover_out'] == []
        assert not any('partial' in name for name in r['leftover_tmp'])
        assert 100 < r['peak_rss_mib'] < 8000
        # a sample of the resident memory never exceeds its peak
        assert r['max_sampled_rss_mib'] <= r['peak_rss_mib'] + 1
        assert r['fds_end'] >= 3  # stdin, stdout, stderr
    # three times the pairs: not one more descriptor or temporary file
    assert more['fds_end'] == few['fds_end']
    assert sorted(more['fds_new'].values()) == sorted(
        few['fds_new'].values())
    assert more['leftover_tmp'] == few['leftover_tmp']
    printed = capsys.readouterr().out
    assert printed.strip() == markdown([few, more, scene]).strip()
    assert '| 6 pairs of 64x64 | yes |' in printed
    assert osp.isdir(tmp_path / 'work' / 'pairs_6' / 'out')
