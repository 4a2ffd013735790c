"""Shared fixtures. Importing ftan_opencd here makes a missing or broken
open-cd stack fail the whole run with the environment check's message
instead of skipping tests."""
import contextlib
import importlib.util
import io
import logging
import os.path as osp
import sys

import pytest
import torch

import ftan_opencd  # noqa: F401
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(REPO, 'configs', 'demo',
                       'ftan-tiny_128x128_demo-cd_cpu.py')


@pytest.fixture(autouse=True)
def registry_scope(request):
    """Run each test in open-cd's default scope, as configs do.

    A test module may set ``REGISTRY_SCOPE = 'mmseg'``: the model-only tests
    do, so that building norm layers or losses never imports open-cd's model
    package (it needs torchvision, which the modern environment lacks).
    """
    scope = getattr(request.module, 'REGISTRY_SCOPE', 'opencd')
    with DefaultScope.overwrite_default_scope(scope):
        yield


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def tiny_model_cfg(**head):
    """FTAN-T with a 16-channel decoder: the smallest real FTAN."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models/ftan_b.py'))
    cfg.model.backbone.arch = 't'
    cfg.model.decode_head.in_channels = [32, 64, 160, 256]
    cfg.model.decode_head.channels = 16
    cfg.model.decode_head.update(head)
    return cfg.model


@pytest.fixture(scope='module')
def one_thread():
    """One intra-op thread: tiny forwards are fastest without OpenMP
    synchronisation, above all on shared (oversubscribed) CI machines."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def load_module(path, name):
    """Import the Python file ``path`` as a fresh module called ``name``
    (not registered in ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool_main(name, argv):
    """Run ``tools/<name>.py``'s ``main(argv)`` in this process.

    Returns:
        tuple: ``(0, result)`` with what ``main`` returned, or
        ``(status, message)`` when it exits: the ``SystemExit`` status (2
        for a user error and for bad options) and the last line the tool
        wrote on stderr (``error: ...`` for a user error). What the tool
        wrote on stderr is passed on.
    """
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return 0, load_tool(name).main([str(arg) for arg in argv])
    except SystemExit as exc:
        lines = err.getvalue().strip().splitlines()
        return exc.code, lines[-1] if lines else ''
    finally:
        sys.stderr.write(err.getvalue())
def load_tool(name):
    """Import tools/<name>.py as a module."""
    return load_module(osp.join(REPO, 'tools', f'{name}.py'), name)


@pytest.fixture
def log(caplog):
    """``caplog`` with the records (INFO and above) of mmengine's current
    logger, which does not propagate to the root logger."""
    logger = MMLogger.get_current_instance()
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)


@pytest.fixture(scope='module')
def model():
    """The CPU demo's small FTAN with seeded random weights (needs
    open-cd's model package: only for needs_torchvision tests)."""
    from ftan_opencd.apis import init_model
    torch.manual_seed(0)
    return init_model(DEMO_CONFIG)


@pytest.fixture(scope='module')
def checkpoint(model, tmp_path_factory):
    """``model``'s weights saved as a checkpoint file."""
    path = tmp_path_factory.mktemp('ckpt') / 'random.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(path))
    return str(path)


def infer(model, **options):
    """An :class:`~ftan_opencd.apis.FTANInferencer` around ``model``."""
    from ftan_opencd.apis import FTANInferencer
    return FTANInferencer.from_model(model, **options)


def free_port() -> str:
    """A TCP port free on this machine now (for a rendezvous)."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


@pytest.fixture(scope='session')
def slurm_cluster():
    """A running single-node SLURM cluster (munged, slurmctld, slurmd;
    installed with apt-get when missing); its daemons are stopped, by pid
    file, at the end of the session."""
    import shutil
    import tempfile

    from ftan_tools.cluster import LocalSlurm, SlurmSetupError
    state = tempfile.mkdtemp(prefix='ftan-slurm-')
    cluster = LocalSlurm(state)
    try:
        cluster.start()
    except SlurmSetupError as exc:
        pytest.fail(f'the SLURM tests need a local cluster (run as root '
                    f'with apt-get, or install slurm-wlm and munge): {exc}')
    yield cluster
    stopped = cluster.stop()
    assert stopped == ['slurmd', 'slurmctld', 'munged']
    assert cluster.running() == {}
    shutil.rmtree(state, ignore_errors=True)
