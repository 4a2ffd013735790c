"""Expected user errors of the tools: one ``error: ...`` line naming the
file or option and what to do, exit status 2, no traceback. Every
``tools/*.py`` is run with a wrong argument; then the messages of
tools/train.py, test.py, export_onnx.py and publish_model.py in detail,
and image verification of the val/test sets before training and of the
test set before testing."""
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

from ftan_tools.datasets.synthetic import write_dataset
from ftan_opencd.datasets import CheckedCDDataset
from ftan_opencd.errors import (USER_ERROR_STATUS, UserError,
                                exit_on_user_error, user_message)
from .conftest import DEMO_CONFIG, REPO, load_tool

LEARN = osp.join(REPO, 'configs', 'benchmark', 'learn')
MODEL_ONLY = osp.join(REPO, 'configs', 'benchmark', 'fc-siam-diff.py')
SMALL = ['train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False',
         'val_dataloader.num_workers=0',
         'val_dataloader.persistent_workers=False']


def tool_error(monkeypatch, capsys, tool, *argv):
    """Run ``tools/<tool>.py argv`` in this process; its error line."""
    module = load_tool(tool)
    monkeypatch.setattr(sys, 'argv', [f'{tool}.py', *map(str, argv)])
    with pytest.raises(SystemExit) as exit_info:
        module.main()
    assert exit_info.value.code == USER_ERROR_STATUS
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), err
    return lines[0]


def run_process(*args):
    """Run a tool in a fresh process; (exit status, stdout + stderr)."""
    result = subprocess.run([sys.executable, *map(str, args)], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout + result.stderr


# ------------------------------------------------ every tool, wrong argument
# tools/<name>.py -> arguments with one wrong path ({missing}: a path that
# does not exist, {file}: a regular file, {out}: a fresh output location)
# and the path the error line must name.
WRONG_ARGUMENTS = {
    'activation_maps': (['{missing}.py', '{missing}.pth', '--img1',
                         '{missing}/a.png', '--img2', '{missing}/b.png',
                         '--out-dir', '{out}'], '{missing}.py'),
    'benchmark': (['learn', '--data-root', '{missing}', '--models',
                   'fc-siam-diff', '--out', '{out}'], '{missing}'),
    'benchmark_distributed': (['--config', '{missing}.py', '--work-dir',
                               '{out}'], '{missing}.py'),
    'benchmark_load': (['--config', '{missing}.py', '--work-dir', '{out}'],
                       '{missing}.py'),
    'benchmark_predict_large': (['--config', '{missing}.py', '--size', '64',
                                 '--work-dir', '{out}'], '{missing}.py'),
    'check_leaks': (['{missing}'], '{missing}'),
    'compare_precision': (['{missing}.py', '{missing}.pth', '--data-root',
                           '{missing}'], '{missing}.py'),
    'export_onnx': (['{missing}.py', '{missing}.pth', '--out',
                     '{out}/x.onnx'], '{missing}.py'),
    'make_demo_data': (['--out', '{file}/demo', '--size', '64'],
                       '{file}/demo'),
    'predict': (['{missing}.py', '{missing}.pth', '--img1', '{missing}/a.png',
                 '--img2', '{missing}/b.png', '--out', '{out}/mask.png'],
                '{missing}.py'),
    'prepare_dsifn': (['{missing}', '{out}'], '{missing}'),
    'prepare_levircd': (['{missing}', '{out}'], '{missing}'),
    'prepare_oscd': (['{missing}', '{out}'], '{missing}'),
    'publish_model': (['{missing}.pth', '{out}/published'], '{missing}.pth'),
    'test': (['{missing}.py', '{missing}.pth'], '{missing}.py'),
    'tile_dataset': (['{missing}', '{out}'], '{missing}'),
    'train': (['{missing}.py', '--work-dir', '{out}'], '{missing}.py'),
}
# tools/check_env.py takes no path (and imports nothing of the package, so
# that it can report a broken install): its only wrong argument is a bad
# option, which argparse reports as "check_env.py: error: ..." (status 2).
ARGPARSE_ONLY = {'check_env': ['--no-such-option']}
TOOL_NAMES = sorted(
    osp.splitext(osp.basename(path))[0]
    for path in glob.glob(osp.join(REPO, 'tools', '*.py')))


@pytest.mark.parametrize('tool', TOOL_NAMES)
def test_every_tool_reports_a_wrong_argument_in_one_line(tool, tmp_path):
    places = dict(missing=str(tmp_path / 'missing'),
                  file=str(tmp_path / 'file.txt'), out=str(tmp_path / 'out'))
    with open(places['file'], 'w') as f:
        f.write('a file, not a folder\n')
    if tool in ARGPARSE_ONLY:
        argv, named, status = ARGPARSE_ONLY[tool], '--no-such-option', 2
        start = f'{tool}.py: error: unrecognized arguments: '
    else:
        assert tool in WRONG_ARGUMENTS, (
            f'tools/{tool}.py: add a wrong-argument case to WRONG_ARGUMENTS')
        (argv, named), status, start = WRONG_ARGUMENTS[tool], \
            USER_ERROR_STATUS, 'error: '
    argv = [arg.format(**places) for arg in argv]
    env = {k: v for k, v in os.environ.items() if k != 'FTAN_TRACEBACK'}
    result = subprocess.run(
        [sys.executable, osp.join('tools', f'{tool}.py'), *argv], cwd=REPO,
        capture_output=True, text=True, timeout=600,
        env=dict(env, OMP_NUM_THREADS='1'))
    err = result.stderr
    assert result.returncode == status, err[-3000:]
    assert 'Traceback' not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith(start), err[-3000:]
    assert named.format(**places) in lines[-1]
    if start == 'error: ':
        assert sum(line.startswith('error: ') for line in lines) == 1, err
    assert sorted(os.listdir(tmp_path)) == ['file.txt'], 'wrote something'


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('errors-data'))
    write_dataset(root, seed=5, size=64, counts=dict(train=4, val=2, test=2))
    return root


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """A text file, a folder and a small torch.save file."""
    folder = tmp_path_factory.mktemp('files')
    text = folder / 'notes.txt'
    text.write_text('not a checkpoint\n')
    weights = folder / 'weights.pth'
    torch.save({'state_dict': {}}, str(weights))
    return dict(text=str(text), folder=str(folder), weights=str(weights))


@pytest.fixture(scope='module')
def trained(data_root, tmp_path_factory):
    """A training checkpoint of fc-siam-diff (1 iteration)."""
    work = tmp_path_factory.mktemp('trained')
    code, log = run_process(
        'tools/train.py', osp.join(LEARN, 'fc-siam-diff.py'), '--data-root',
        data_root, '--iters', '1', '--work-dir', work, '--cfg-options',
        *SMALL)
    assert code == 0, log[-3000:]
    return str(work / 'iter_1.pth')


# ----------------------------------------------------- checkpoint arguments
@pytest.mark.parametrize('tool', ['test', 'export_onnx'])
def test_checkpoint_argument_that_is_no_checkpoint(monkeypatch, capsys,
                                                   files, tool):
    out = ['--out', osp.join(files['folder'], 'x.onnx')] \
        if tool == 'export_onnx' else []
    error = tool_error(monkeypatch, capsys, tool, DEMO_CONFIG, files['text'],
                       *out)
    assert error.startswith(f'error: CHECKPOINT {files["text"]} is not a '
                            'checkpoint (empty, text or another format)')
    error = tool_error(monkeypatch, capsys, tool, DEMO_CONFIG,
                       files['folder'], *out)
    assert error.startswith(f'error: CHECKPOINT {files["folder"]} is a '
                            'folder, not a checkpoint file')
    error = tool_error(monkeypatch, capsys, tool, DEMO_CONFIG, DEMO_CONFIG,
                       *out)
    assert error == (f'error: CHECKPOINT {DEMO_CONFIG} is a config file '
                     '(.py), not a checkpoint: config and checkpoint '
                     'swapped? The order is CONFIG CHECKPOINT')


@pytest.mark.parametrize('tool', ['test', 'export_onnx'])
def test_config_and_checkpoint_swapped(monkeypatch, capsys, files, tool):
    out = ['--out', osp.join(files['folder'], 'x.onnx')] \
        if tool == 'export_onnx' else []
    error = tool_error(monkeypatch, capsys, tool, files['weights'],
                       DEMO_CONFIG, *out)
    assert error == (f'error: CONFIG {files["weights"]} is a checkpoint '
                     '(.pth), not a config: config and checkpoint swapped? '
                     'The order is CONFIG CHECKPOINT')


def test_test_tool_refuses_model_only_config(monkeypatch, capsys, files):
    error = tool_error(monkeypatch, capsys, 'test', MODEL_ONLY,
                       files['weights'])
    assert 'defines no default_scope/test_dataloader' in error
    assert error.endswith(f'use {osp.join(LEARN, "fc-siam-diff.py")}')


def test_train_tool_refuses_a_checkpoint_as_config(monkeypatch, capsys,
                                                   files):
    error = tool_error(monkeypatch, capsys, 'train', files['weights'])
    assert 'is a checkpoint (.pth), not a config' in error
    assert f'--resume {files["weights"]}' in error


def test_publish_refuses_what_it_cannot_publish(monkeypatch, capsys, files):
    out = osp.join(files['folder'], 'published')
    error = tool_error(monkeypatch, capsys, 'publish_model', DEMO_CONFIG,
                       out)
    assert f'IN.pth {DEMO_CONFIG} is a config file (.py)' in error
    error = tool_error(monkeypatch, capsys, 'publish_model', files['text'],
                       out)
    assert 'is not a checkpoint' in error
    error = tool_error(monkeypatch, capsys, 'publish_model',
                       files['weights'], files['folder'])
    assert error.startswith(f'error: OUT_STEM {files["folder"]} is a folder')


# ------------------------------------------------------------------ resume
@pytest.mark.needs_torchvision  # trains an open-cd model
def test_resume_refuses_foreign_checkpoints(monkeypatch, capsys, data_root,
                                            trained, tmp_path):
    publish = load_tool('publish_model').publish
    published = publish(trained, str(tmp_path / 'pub' / 'fc'))
    bare = str(tmp_path / 'bare.pth')
    torch.save({'state_dict': torch.load(trained)['state_dict']}, bare)
    config = osp.join(LEARN, 'fc-siam-diff.py')
    for path in (published, bare):
        error = tool_error(monkeypatch, capsys, 'train', config,
                           '--data-root', data_root, '--work-dir',
                           tmp_path / 'work', '--resume', path)
        assert error.startswith(f'error: --resume {path}: not a training '
                                'checkpoint of tools/train.py')
        assert f'--cfg-options load_from={path}' in error


@pytest.mark.needs_torchvision
def test_resume_from_another_models_training_checkpoint(data_root, trained,
                                                        tmp_path):
    code, log = run_process(
        'tools/train.py', osp.join(LEARN, 'bit-r18.py'), '--data-root',
        data_root, '--work-dir', tmp_path, '--resume', trained,
        '--cfg-options', *SMALL)
    assert code == USER_ERROR_STATUS
    assert 'Traceback' not in log
    assert f'error: {trained} does not fit the model (it was trained as ' \
        'fc-siam-diff' in log
    assert 'Iter(train)' not in log


# ------------------------------------------------------------------ export
@pytest.mark.parametrize('shape, suggestion', [
    (['0', '0'], '32 32'), (['-64', '64'], '64 64'), (['100', '140'],
                                                      '96 128')])
def test_export_refuses_bad_shapes_before_building(monkeypatch, capsys,
                                                   files, shape, suggestion):
    error = tool_error(monkeypatch, capsys, 'export_onnx', DEMO_CONFIG,
                       files['weights'], '--out',
                       osp.join(files['folder'], 'x.onnx'), '--shape', *shape)
    assert error == (f'error: --shape {shape[0]} {shape[1]}: height and '
                     'width must be positive multiples of 32 (the encoder '
                     f'downsamples by 32), e.g. --shape {suggestion}')


def test_export_refuses_devices_it_cannot_use(monkeypatch, capsys, files):
    argv = [DEMO_CONFIG, files['weights'], '--out',
            osp.join(files['folder'], 'x.onnx'), '--device']
    error = tool_error(monkeypatch, capsys, 'export_onnx', *argv, 'gpu')
    assert error.startswith('error: --device gpu: unknown device (a GPU is '
                            '"cuda" or "cuda:N"); valid devices here: cpu')
    error = tool_error(monkeypatch, capsys, 'export_onnx', *argv, 'cuda:99')
    assert 'valid devices here: cpu' in error
    if not torch.cuda.is_available():
        error = tool_error(monkeypatch, capsys, 'export_onnx', *argv, 'cuda')
        assert error == ('error: --device cuda: no CUDA GPU is visible to '
                         'torch on this machine; valid devices here: cpu')


# ----------------------------------------------------- image verification
def corrupt_copy(data_root, tmp_path, split, name):
    """A copy of the data with one zero-byte image; its path."""
    root = tmp_path / 'data'
    shutil.copytree(data_root, root)
    bad = root / split / 'A' / name
    bad.write_bytes(b'')
    return str(root), str(bad)


def assert_unreadable_sample_named(code, log, folder, reason, loop):
    """One error line names the unreadable sample before any ``loop``
    iteration (``train`` or ``test``) runs."""
    assert code == USER_ERROR_STATUS, log[-3000:]
    assert 'Traceback' not in log
    assert (f'error: CheckedCDDataset: 1 of 2 samples of {folder} cannot '
            f'be read: {reason}') in log
    assert '--no-verify' in log
    assert f'Iter({loop})' not in log  # not a single iteration


@pytest.mark.needs_torchvision  # builds an open-cd model
@pytest.mark.parametrize('split', ['val', 'test'])
def test_corrupt_val_or_test_image_stops_before_training(data_root,
                                                         tmp_path, split):
    root, bad = corrupt_copy(data_root, tmp_path, split, f'{split}_0001.png')
    code, log = run_process(
        'tools/train.py', osp.join(LEARN, 'fc-siam-diff.py'), '--data-root',
        root, '--iters', '2', '--work-dir', tmp_path / 'work',
        '--cfg-options', *SMALL)
    assert_unreadable_sample_named(
        code, log, osp.join(root, split), f'image file is empty: {bad}',
        'train')


def test_no_verify_leaves_the_data_sets_as_configured(monkeypatch,
                                                      data_root):
    train = load_tool('train')
    for argv, expected in (([], True), (['--no-verify'], None)):
        monkeypatch.setattr(sys, 'argv', [
            'train.py', DEMO_CONFIG, '--data-root', data_root, *argv])
        cfg = train.build_config(train.parse_args())
        assert cfg.val_dataloader.dataset.get('verify_images') is expected
        assert cfg.test_dataloader.dataset.get('verify_images') is expected
        assert cfg.train_dataloader.dataset.get('verify_images') is None


@pytest.mark.needs_torchvision  # builds an open-cd model
def test_truncated_test_image_is_named_before_the_test_loop(data_root,
                                                            trained,
                                                            tmp_path):
    """Issue 21: tools/test.py named no file (a traceback in open-cd's
    loader); now it names the truncated image before testing."""
    root = tmp_path / 'data'
    shutil.copytree(data_root, root)
    bad = root / 'test' / 'A' / 'test_0001.png'
    data = bad.read_bytes()
    bad.write_bytes(data[:len(data) // 2])
    code, log = run_process(
        'tools/test.py', osp.join(LEARN, 'fc-siam-diff.py'), trained,
        '--data-root', root, '--work-dir', tmp_path / 'work',
        '--cfg-options', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False')
    assert_unreadable_sample_named(
        code, log, osp.join(str(root), 'test'),
        f'cannot decode {bad} as an image (corrupt or not an image file)',
        'test')


def test_test_tool_verifies_the_test_set_unless_no_verify(monkeypatch,
                                                          data_root, files):
    test = load_tool('test')
    for argv, expected in (([], True), (['--no-verify'], None)):
        monkeypatch.setattr(sys, 'argv', [
            'test.py', DEMO_CONFIG, files['weights'], '--data-root',
            data_root, *argv])
        cfg = test.build_config(test.parse_args())
        assert cfg.test_dataloader.dataset.get('verify_images') is expected
        assert cfg.val_dataloader.dataset.get('verify_images') is None


def test_verify_images_lists_every_bad_file(data_root, tmp_path):
    import cv2
    import numpy as np
    root, empty = corrupt_copy(data_root, tmp_path, 'val', 'val_0000.png')
    label = osp.join(root, 'val', 'label', 'val_0001.png')
    cv2.imwrite(label, np.full((64, 64), 7, np.uint8))
    pipeline = [dict(type='CDLoadImagePair'), dict(type='CDLoadChangeLabel')]
    dataset = CheckedCDDataset(
        data_root=root, data_prefix=dict(
            img_path_from='val/A', img_path_to='val/B',
            seg_map_path='val/label'), pipeline=pipeline)
    assert len(dataset) == 2  # off by default: nothing decoded
    with pytest.raises(UserError) as error:
        CheckedCDDataset(
            data_root=root, data_prefix=dict(
                img_path_from='val/A', img_path_to='val/B',
                seg_map_path='val/label'), pipeline=pipeline,
            verify_images=True)
    message = str(error.value)
    assert '2 of 2 samples' in message
    assert f'image file is empty: {empty}' in message
    assert f'change label {label} contains invalid values [7]' in message
    # The pipeline's label rule applies: a threshold makes the label valid.
    pipeline[1]['label_threshold'] = 5
    with pytest.raises(UserError, match='1 of 2 samples'):
        CheckedCDDataset(
            data_root=root, data_prefix=dict(
                img_path_from='val/A', img_path_to='val/B',
                seg_map_path='val/label'), pipeline=pipeline,
            verify_images=True)


# ------------------------------------------------------------------ helper
def test_helper_reports_user_errors_and_keeps_bugs(capsys):

    @exit_on_user_error
    def user_mistake():
        raise UserError('--iters 0: give at least 1 iteration')

    @exit_on_user_error
    def bug():
        raise RuntimeError('a bug keeps its traceback')

    with pytest.raises(SystemExit) as exit_info:
        user_mistake()
    assert exit_info.value.code == USER_ERROR_STATUS
    assert capsys.readouterr().err == \
        'error: --iters 0: give at least 1 iteration\n'
    with pytest.raises(RuntimeError):
        bug()
    with pytest.raises(KeyError):  # a registry KeyError is not swallowed
        exit_on_user_error(lambda: {}['SiamEncoderDecoder'])()


def test_user_message_drops_wrappers():
    worker = FileNotFoundError(
        'Caught FileNotFoundError in DataLoader worker process 0.\n'
        'Original Traceback (most recent call last):\n'
        '  File "x.py", line 1, in f\n'
        'FileNotFoundError: image file not found: a.png\n')
    assert user_message(worker) == 'image file not found: a.png'
    registry = UserError('class `CheckedCDDataset` in ftan_opencd/datasets/'
                         'cd_dataset.py: 1 of 2 samples cannot be read')
    assert user_message(registry) == '1 of 2 samples cannot be read'
    several = UserError('cannot run here:\n  - mmcv is missing\n'
                        'To install: bash x.sh')
    assert user_message(several) == ('cannot run here: - mmcv is missing; '
                                      'To install: bash x.sh')


def test_one_base_for_user_errors(capsys):
    import pickle

    from ftan_opencd.env_check import EnvironmentMismatch
    from ftan_opencd.utils import CheckpointError, UnsafeCheckpointError
    from ftan_tools.datasets.tiling import DatasetError
    for error in (CheckpointError, UnsafeCheckpointError, EnvironmentMismatch,
                  DatasetError):
        assert issubclass(error, UserError) and issubclass(error, ValueError)
    # Their other bases stay for callers that catch those.
    assert issubclass(UnsafeCheckpointError, pickle.UnpicklingError)
    assert issubclass(EnvironmentMismatch, ImportError)
    assert USER_ERROR_STATUS == 2  # as argparse's errors

    @exit_on_user_error
    def install_problem():
        raise EnvironmentMismatch('ftan-opencd cannot run here:\n  - mmcv '
                                  'is missing\nTo install: bash x.sh')

    with pytest.raises(SystemExit) as exit_info:
        install_problem()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == ('error: ftan-opencd cannot run here: '
                                       '- mmcv is missing; To install: bash '
                                       'x.sh\n')


def test_check_device_refuses_gpus_this_machine_lacks(monkeypatch):
    from ftan_opencd.utils.user_errors import check_device
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    assert check_device('cuda:0') == 'cuda:0'
    assert check_device('cuda') == 'cuda'
    assert check_device(torch.device('cuda', 0)) == 'cuda:0'
    assert check_device(torch.device('cpu')) == 'cpu'
    with pytest.raises(UserError) as error:
        check_device('cuda:7')
    assert str(error.value) == ('--device cuda:7: no such GPU on this '
                                'machine; valid devices here: cpu, cuda, '
                                'cuda:0')
    with pytest.raises(UserError, match=r'^device cuda:1: no such GPU'):
        check_device(torch.device('cuda', 1), option='device')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 0)
    with pytest.raises(UserError, match='no CUDA GPU is visible'):
        check_device('cuda:0')


@pytest.mark.parametrize('command', [[], ['precision'], ['learn']])
def test_benchmark_refuses_a_configs_folder_without_the_configs(
        tmp_path, command):
    """--configs naming a folder without configs/benchmark/*.py is refused,
    not silently replaced by ./configs (which holds them here)."""
    status, out = run_process('tools/benchmark.py', *command, '--configs',
                              tmp_path)
    lines = [line for line in out.splitlines() if line.startswith('error')]
    assert status == USER_ERROR_STATUS, out
    assert lines == [f'error: --configs / $FTAN_CONFIGS {tmp_path} is not '
                     'the configs/ folder of ftan-opencd (no '
                     'benchmark/ftan-b.py in it)'], out
