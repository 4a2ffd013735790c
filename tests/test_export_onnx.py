"""Tests of tools/export_onnx.py: ONNX export of the CPU demo's small FTAN
(random weights) and its agreement with PyTorch under onnxruntime, for two
inputs and for one 6-channel input."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import ftan_opencd  # noqa: F401 - registers FTAN in open-cd
from ftan_opencd.apis import init_model
from ftan_opencd.apis.onnx_export import ChangeLogits, example_inputs
from .conftest import DEMO_CONFIG, load_tool

pytestmark = [
    pytest.mark.needs_torchvision,  # builds open-cd models
    pytest.mark.usefixtures('one_thread')
]

SHAPE = (64, 96)


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """The demo config and a checkpoint of random weights."""
    torch.manual_seed(0)
    model = init_model(DEMO_CONFIG)
    checkpoint = tmp_path_factory.mktemp('onnx') / 'random.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}},
               str(checkpoint))
    return DEMO_CONFIG, str(checkpoint), model


@pytest.mark.parametrize('single_input, names, channels', [
    (False, ['t1', 't2'], [3, 3]),
    (True, ['pair'], [6]),
])
def test_export_matches_pytorch(files, tmp_path, capsys, single_input,
                                names, channels):
    config, checkpoint, model = files
    out = str(tmp_path / 'ftan.onnx')
    argv = [config, checkpoint, '--out', out, '--shape', *map(str, SHAPE)]
    status = load_tool('export_onnx').main(
        argv + (['--single-input'] if single_input else []))
    assert status == 0
    assert 'max abs diff' in capsys.readouterr().out
    proto = onnx.load(out)
    onnx.checker.check_model(proto)
    graph = proto.graph
    assert [i.name for i in graph.input] == names
    dims = [[d.dim_value for d in i.type.tensor_type.shape.dim]
            for i in graph.input]
    assert dims == [[1, c, *SHAPE] for c in channels]
    assert [o.version for o in proto.opset_import
            if o.domain in ('', 'ai.onnx')] == [17]
    # Stricter than the tool's 1e-3: compare on another random pair.
    inputs = example_inputs(model, SHAPE, single_input, seed=3)
    session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    logits = session.run(['logits'], {
        name: x.numpy() for name, x in zip(names, inputs)})[0]
    with torch.no_grad():
        expected = ChangeLogits(model, single_input)(*inputs).numpy()
    assert logits.shape == expected.shape == (1, 2, *SHAPE)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)


def test_export_refuses_sizes_not_divisible_by_32(files):
    with pytest.raises(ValueError, match='multiple of 32'):
        example_inputs(files[2], (100, 140), single_input=False)
