"""tools/gpu_check.sh and ftan_tools/gpu_check: no network, no compile, no
GPU."""
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest

from ftan_tools.gpu_check import logs, target, wheels
from ftan_tools.gpu_check.summary import summarize
from .conftest import REPO as ROOT
from .conftest import load_module

SCRIPT = osp.join(ROOT, 'tools', 'gpu_check.sh')
PACKAGE = osp.join(ROOT, 'ftan_tools', 'gpu_check')
BODY = osp.join(PACKAGE, 'main.sh')
env_check = load_module(osp.join(ROOT, 'ftan_opencd', 'env_check.py'),
                        'env_check_for_gpu_check')


def run_script(*args, env=None, cwd=ROOT):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(['bash', SCRIPT, *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_syntax():
    for path in [SCRIPT] + glob.glob(osp.join(PACKAGE, '*.sh')):
        subprocess.run(['bash', '-n', path], check=True)


def test_tools_script_is_a_thin_entry_point():
    """The steps live in ftan_tools/gpu_check; tools/ only starts them."""
    with open(SCRIPT) as f:
        code = [line for line in f if line.strip()
                and not line.startswith('#')]
    assert len(code) == 1 and 'ftan_tools/gpu_check/main.sh' in code[0]


def test_helpers_import_with_the_standard_library_only():
    """The run calls them with the target Python before the stack exists."""
    code = ('import sys; import ftan_tools.gpu_check.__main__; '
            'heavy = {"numpy", "torch", "mmengine", "ftan_opencd", "cv2"}; '
            'print(sorted(heavy & set(sys.modules)))')
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                            capture_output=True, text=True, check=True,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.stdout.strip() == '[]'


def test_help_lists_the_modes():
    result = run_script('--help')
    assert result.returncode == 0
    for option in ('--prepare', '--run', '--check-only', '--cpu-smoke',
                   '--python-version', '--full', '--skip', '--steps',
                   '--budget', '--skip-install'):
        assert option in result.stdout, option
    assert run_script().returncode != 0
    assert run_script('--bogus').returncode != 0


def test_no_version_written_in_the_script():
    """Versions come from ftan_opencd/stack.txt only."""
    requirements, settings = env_check.read_stack()
    pinned = [line.split('==', 1)[1] for line in requirements.values()
              if '==' in line]
    pinned += [v for k, v in settings.items() if k.endswith('torch')]
    assert pinned
    paths = [SCRIPT] + glob.glob(osp.join(PACKAGE, '*.py')) + \
        glob.glob(osp.join(PACKAGE, '*.sh'))
    for path in paths:
        with open(path) as f:
            text = f.read()
        assert not re.findall(r'\b\d+\.\d+\.\d+\b', text), path
        for version in pinned:
            assert not re.search(rf'(?<![\d.]){re.escape(version)}(?![\d.])',
                                 text), (path, version)
    with open(BODY) as f:
        text = f.read()
    assert 'env_check.py" --get' in text


@pytest.mark.skipif(shutil.which('git') is None
                    or not osp.exists(osp.join(ROOT, '.git')),
                    reason='needs a git checkout')
def test_prepare_refuses_a_folder_git_does_not_ignore(tmp_path):
    name = 'tools/_gpu_check_wheels_test'
    assert not osp.exists(osp.join(ROOT, name))
    result = run_script('--prepare', name)
    assert result.returncode == 1
    assert 'not ignored by git' in result.stderr
    assert 'info/exclude' in result.stderr
    assert not osp.exists(osp.join(ROOT, name)), 'created before the check'
    result = run_script('--prepare', '.')
    assert result.returncode == 1 and 'checkout itself' in result.stderr
    # an ignored folder (work_dirs/) and one outside the checkout pass the
    # check; without an open-cd wheel the script stops before any download
    for folder in ('work_dirs/_gpu_check_wheels_test', str(tmp_path / 'w')):
        result = run_script('--prepare', folder,
                            env=dict(FTAN_WHEELS=str(tmp_path / 'none')))
        assert result.returncode == 1
        assert 'not ignored' not in result.stderr
        assert 'no wheel of opencd' in result.stderr


def test_run_without_a_prepared_folder_stops_early(tmp_path):
    out = tmp_path / 'out'
    result = run_script('--run', str(tmp_path / 'missing'), str(out),
                        '--cpu-smoke', '--work', str(tmp_path / 'work'))
    assert result.returncode == 1
    assert 'gpu_check_manifest.json missing' in result.stderr
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['ok'] is False
    assert summary['failed_steps'] == ['precheck']
    assert (out / 'gpu_check.log').is_file()


def test_run_refuses_a_work_folder_it_did_not_make(tmp_path):
    work = tmp_path / 'precious'
    work.mkdir()
    (work / 'keep.txt').write_text('x')
    result = run_script('--run', '-', str(tmp_path / 'out'), '--cpu-smoke',
                        '--skip-install', '--work', str(work))
    assert result.returncode == 1
    assert 'not a scratch folder' in result.stderr
    assert (work / 'keep.txt').is_file()


def test_parse_filename():
    assert wheels.parse_filename(
        'mmsegmentation-1.0-py3-none-any.whl') == dict(
            name='mmsegmentation', version='1.0', kind='wheel')
    assert wheels.parse_filename('Markdown_It_Py-3.0-py3-none-any.whl'
                                 )['name'] == 'markdown-it-py'
    assert wheels.parse_filename('mmcv-9.9.tar.gz') == dict(
        name='mmcv', version='9.9', kind='sdist')
    assert wheels.parse_filename('README') is None


def test_classify_lean_and_full(tmp_path):
    files = ['mmengine-1.0-py3-none-any.whl',
             'rasterio-1.0-cp312-cp312-manylinux_2_28_x86_64.whl',
             'scipy-1.0-cp312-cp312-manylinux_2_28_x86_64.whl',
             'numpy-2.0-cp312-cp312-manylinux_2_28_x86_64.whl',
             'opencv_python-5.0-cp37-abi3-manylinux2014_x86_64.whl',
             'nvidia_cublas-1.0-py3-none-manylinux2014_x86_64.whl',
             'packaging-1.0-py3-none-any.whl', 'mmcv-9.9.tar.gz']
    for mode in ('lean', 'full'):
        src, dst = tmp_path / f'src-{mode}', tmp_path / f'dst-{mode}'
        src.mkdir()
        for name in files:
            (src / name).write_bytes(b'')
        manifest = wheels.classify(str(src), str(dst), '3.12',
                                   full=mode == 'full', stack=dict(a='b'))
        bundled = sorted(b['name'] for b in manifest['bundled'])
        expected = sorted(e['name'] for e in manifest['expected'])
        never = ['numpy', 'nvidia-cublas', 'opencv-python']
        if mode == 'lean':
            # packaging is on the device image, but a build tool of mmcv
            assert bundled == ['mmcv', 'mmengine', 'packaging', 'rasterio']
            assert expected == sorted(never + ['scipy'])
        else:
            assert bundled == ['mmcv', 'mmengine', 'packaging', 'rasterio',
                               'scipy']
            assert expected == never
        assert sorted(os.listdir(dst)) == sorted(
            [b['file'] for b in manifest['bundled']] + [wheels.MANIFEST])
        assert wheels.load_manifest(str(dst))['python_version'] == '3.12'
        specs = wheels.install_specs(manifest, ['mmengine==X',
                                                'setuptools<70'])
        assert 'mmengine==X' in specs and 'rasterio' in specs
        assert not any(s.startswith('mmcv') for s in specs)


def test_requirement_names_leave_out_the_target_stack(tmp_path):
    req = tmp_path / 'r.txt'
    req.write_text('-c ../x.txt\n# c\nnumpy<2\nopencv-python<4\nscipy\n'
                   'rasterio  # geo\ntorch\n')
    assert wheels.read_requirement_names([str(req)]) == ['scipy', 'rasterio']
    assert wheels.read_requirement_names([str(req)], ['SciPy']) == [
        'rasterio']


def test_classify_skips_what_the_run_does_not_use(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    for name in ('pyogrio-0.1-cp311-abi3-manylinux2014_x86_64.whl',
                 'rasterio-1.0-cp312-cp312-manylinux_2_28_x86_64.whl'):
        (src / name).write_bytes(b'')
    manifest = wheels.classify(str(src), str(tmp_path / 'dst'), '3.12',
                               full=True, skip=['pyogrio'])
    assert [b['name'] for b in manifest['bundled']] == ['rasterio']
    assert manifest['skipped'] == [dict(name='pyogrio', version='0.1')]
    assert manifest['expected'] == []


PREFIX = '2026/11/27 15:01:29 - mmengine - INFO - '
TIMES = 'time: 0.15  data_time: 0.01  memory: 9000  '


def train_line(it, loss, acc):
    return (f'{PREFIX}Iter(train) [{it:>3}/200]  lr: 9.6e-05  eta: 0:00:30  '
            f'{TIMES}loss: {loss}  decode.loss_ce: {loss}  '
            f'decode.acc_seg: {acc}')


METRICS = ('precision: {}  recall: {}  F1: {}  IoU: {}  OA: {}  Kappa: {}  '
           'mIoU: {}  data_time: 0.0034  time: 0.1285')
TRAIN_LOG = '\n'.join([
    PREFIX + '--iters 200: train_cfg.max_iters 59400 -> 200',
    train_line(10, '0.6812', 90.1), train_line(20, '0.4130', 93.8),
    train_line(200, '0.0918', 96.0),
    PREFIX + 'Saving checkpoint at 200 iterations',
    PREFIX + 'Iter(val) [20/24]    eta: 0:00:00  time: 0.02  data_time: 0.00',
    PREFIX + 'Iter(val) [24/24]    ' + METRICS.format(
        '81.8200', '86.6600', '84.1700', '72.6700', '98.4300', '83.3400',
        '85.5100'), ''])
TEST_LOG = '\n'.join([
    PREFIX + 'Iter(test) [8/8]    eta: 0:00:00  time: 0.1',
    PREFIX + 'Iter(test) [8/8]    ' + METRICS.format(
        '70.0000', '60.0000', '64.6200', '47.7300', '97.0000', '63.0000',
        '72.0000'), ''])


def test_parse_train_log():
    parsed = logs.parse_train_log(TRAIN_LOG)
    assert parsed['logged_iters'] == [10, 20, 200]
    assert parsed['losses'] == [0.6812, 0.4130, 0.0918]
    assert parsed['max_iters'] == 200 and parsed['last_iter'] == 200
    assert parsed['first_loss'] == 0.6812 and parsed['final_loss'] == 0.0918
    assert parsed['loss_fell'] is True
    assert parsed['loss_ratio'] == pytest.approx(0.0918 / 0.6812)
    assert parsed['val'] == dict(precision=81.82, recall=86.66, F1=84.17,
                                 IoU=72.67, OA=98.43, Kappa=83.34,
                                 mIoU=85.51)
    nan = logs.parse_train_log(
        TRAIN_LOG.replace('loss: 0.0918', 'loss: nan'))
    assert nan['final_loss'] is None and 'loss_fell' not in nan
    assert nan['nonfinite_losses'] == 1
    assert logs.parse_train_log('no training here')['losses'] == []


def test_parse_metrics():
    assert logs.parse_metrics(TEST_LOG, 'test')['F1'] == 64.62
    assert logs.parse_metrics(TEST_LOG, 'val') is None


def _bench_report(device):
    row = dict(params_m=42.3, flops_g=147.2, flops_ext_g=164.7, train_s=0.12,
               train_pairs_per_s=200.0, train_peak_mb=20000.0,
               infer_small_ms=5.0, infer_large_s=0.05,
               infer_large_peak_mb=3000.0)
    return dict(
        settings=dict(device=device, size=256, large=1024, batch=24),
        machine=dict(gpu='NVIDIA H100 80GB HBM3'), rows={'ftan-b': row},
        reference=dict(
            model='ftan-b',
            fast=dict(train=dict(median_s=0.12),
                      infer_1024=dict(median_s=0.05)),
            reference=dict(train=dict(median_s=0.30),
                           infer_1024=dict(skipped='memory'),
                           agreement=dict(max_abs_diff=1e-6),
                           interleaved=dict(size=256, batch=24,
                                            train=dict(speedup=2.4)))))


def test_summary_from_sample_logs(tmp_path):
    work, out = tmp_path / 'work', tmp_path / 'out'
    (work / 'logs').mkdir(parents=True)
    (work / 'train').mkdir()
    (work / 'bench_ftan').mkdir()
    ckpt = work / 'train' / 'iter_200.pth'
    ckpt.write_bytes(b'0' * 2048)
    (work / 'train' / 'last_checkpoint').write_text(str(ckpt))
    (work / 'logs' / 'train.log').write_text(TRAIN_LOG)
    (work / 'logs' / 'test.log').write_text(TEST_LOG)
    (work / 'logs' / 'predict.log').write_text(
        'done\nPREDICT_CHECK {"shape": [2048, 2048], "georeferenced": true}\n')
    (work / 'bench_ftan' / 'benchmark.json').write_text(
        json.dumps(_bench_report('cuda')))
    (work / 'bench_ftan' / 'benchmark.md').write_text('## Speed\n\n| a |\n')
    (work / 'imports.json').write_text(json.dumps(
        dict(info=dict(torch='x', gpu='H100'), failed=[])))
    (work / 'steps.tsv').write_text(
        'install\tok\t0\t12.5\t300\t29 wheels\n'
        'mmcv_build\tok\t0\t200.0\t540\tCPU ops\n'
        'train\tok\t0\t80.2\t200\t200 iters\n'
        'test\tok\t0\t20.0\t90\t\n'
        'predict\tok\t0\t15.0\t90\t2048^2\n'
        'bench_ftan\tok\t0\t60.0\t150\t\n'
        'bench_zoo\ttimeout\t124\t150.0\t150\t\n')
    subprocess.run([sys.executable, '-m', 'ftan_tools.gpu_check', 'summary',
                    str(work), str(out), '--setting', 'mode=gpu'], cwd=ROOT,
                   check=True, capture_output=True)
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['settings'] == dict(mode='gpu')
    assert [s['name'] for s in summary['steps']][:2] == ['install',
                                                         'mmcv_build']
    assert summary['steps'][0] == dict(name='install', status='ok', rc=0,
                                       seconds=12.5, timeout_s=300,
                                       note='29 wheels')
    assert summary['total_s'] == pytest.approx(537.7)
    assert summary['ok'] is False and summary['failed_steps'] == ['bench_zoo']
    assert summary['checks'] == dict(
        train_loss_fell=True, train_checkpoint_written=True,
        test_metrics_logged=True, predict_output_georeferenced=True)
    train = summary['train']
    assert (train['first_loss'], train['final_loss'], train['loss_fell']) == \
        (0.6812, 0.0918, True)
    assert train['checkpoint_written'] is True
    assert train['val']['F1'] == 84.17
    assert summary['test']['F1'] == 64.62
    assert summary['predict'] == dict(shape=[2048, 2048], georeferenced=True)
    assert summary['environment'] == dict(torch='x', gpu='H100')
    bench = summary['benchmark']['bench_ftan']
    assert bench['gpu'] == 'NVIDIA H100 80GB HBM3'
    assert bench['reference']['speedup'] == dict(infer_1024=None, train=2.5)
    assert bench['reference']['interleaved'] == dict(train=2.4)
    assert summary['benchmark_rows']['ftan-b']['train_pairs_per_s'] == 200.0
    assert summary['benchmark_ratios_to_ftan_b']['ftan-b']['train_s'] == 1.0
    goals = summary['goals']
    assert goals['train_pairs_per_s'] == dict(value=200.0, target='>= 150',
                                              met=True)
    assert goals['infer_large_ms']['value'] == pytest.approx(50.0)
    assert goals['infer_large_ms']['met'] is True
    assert goals['reference_speedup_train']['met'] is True
    markdown = (out / 'summary.md').read_text()
    assert '| bench_zoo | timeout | 150 | 150 |  |' in markdown
    assert '### Speed' in markdown
    # a CPU report is not held against the GPU goals
    (work / 'bench_ftan' / 'benchmark.json').write_text(
        json.dumps(_bench_report('cpu')))
    assert 'goals' not in summarize(str(work))
    # a loss that did not fall fails the run although every step exited 0
    (work / 'steps.tsv').write_text('train\tok\t0\t80.2\t200\t\n')
    (work / 'logs' / 'train.log').write_text(
        TRAIN_LOG.replace('loss: 0.0918', 'loss: 0.9'))
    summary = summarize(str(work))
    assert summary['failed_steps'] == []
    assert summary['checks']['train_loss_fell'] is False
    assert summary['ok'] is False


def test_check_target(monkeypatch):
    have = {'numpy', 'opencv-python-headless', 'scipy'}
    monkeypatch.setattr(target, 'installed', lambda name: name in have)
    here = '.'.join(map(str, sys.version_info[:2]))
    manifest = dict(python_version=here, expected=[
        dict(name='numpy', why='a'), dict(name='opencv-python', why='a'),
        dict(name='scipy', why='b')])
    assert target.check_target(manifest) == []
    manifest['expected'].append(dict(name='matplotlib', why='lean'))
    manifest['python_version'] = '2.7'
    problems = target.check_target(manifest)
    assert len(problems) == 2
    assert 'prepared for Python 2.7' in problems[0]
    assert 'folder: matplotlib (lean). For' in problems[1]


def test_summary_keeps_what_an_unfinished_benchmark_measured(tmp_path):
    logs = tmp_path / 'bench_zoo' / 'logs'
    logs.mkdir(parents=True)
    (logs / 'bit-r18.result.json').write_text(json.dumps(dict(
        model='bit-r18', complexity=dict(params=3e6, flops=8e9),
        train=dict(median_s=0.05, peak_mb=900.0, batch=24, times_s=[1]),
        infer_256=dict(median_s=0.004, peak_mb=100.0))))
    (tmp_path / 'steps.tsv').write_text(
        'bench_zoo\ttimeout\t124\t150\t150\t\n')
    summary = summarize(str(tmp_path))
    assert summary['benchmark_partial']['bench_zoo']['bit-r18'] == dict(
        params=3e6, flops=8e9,
        train=dict(median_s=0.05, peak_mb=900.0, batch=24),
        infer_256=dict(median_s=0.004, peak_mb=100.0))
    assert 'benchmark' not in summary and summary['ok'] is False
