"""The package's layering, read from the source with ``ast``: no import
circle inside ``ftan_opencd``, no module importing a higher layer, never
``ftan_tools``; and ``tools/*.py`` stay thin entry points.

Every ``import`` statement counts, also those inside functions (a lazy
import still couples the modules)."""
import ast
import glob
import os.path as osp
from typing import Dict, List, Optional, Set

import pytest

from .conftest import REPO

PACKAGE = 'ftan_opencd'
TOOLING = 'ftan_tools'
# Lowest first. A module may import its own layer and the layers below.
LAYERS = (
    ('errors', ),  # the user-error base: imports nothing of the package
    ('utils', 'pixels', 'version', 'env_check'),
    ('datasets', 'models', 'evaluation', 'engine'),
    ('apis', ),
    ('cli', ),
)
# ftan_opencd/__init__.py imports every layer to register the components.
ROOT_LAYER = len(LAYERS)
MAX_TOOL_LINES = 250


def module_files() -> Dict[str, str]:
    """The modules of the package by dotted name.

    Returns:
        dict[str, str]: ``{'ftan_opencd.utils.checkpoint': path, ...}``;
        a package is named by its ``__init__.py``.
    """
    modules = {}
    for path in glob.glob(osp.join(REPO, PACKAGE, '**', '*.py'),
                          recursive=True):
        parts = osp.relpath(path, REPO)[:-len('.py')].split(osp.sep)
        if parts[-1] == '__init__':
            parts = parts[:-1]
        modules['.'.join(parts)] = path
    return modules


def _resolve_base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module that ``from <node.module> import ...`` names.

    Args:
        module (str): The importing module's dotted name.
        is_package (bool): The importing module is a package's
            ``__init__``.
        node (ast.ImportFrom): The statement.

    Returns:
        str: The dotted name it imports from.
    """
    if not node.level:
        return node.module or ''
    parts = module.split('.')
    package = parts if is_package else parts[:-1]
    base = package[:len(package) - (node.level - 1)]
    return '.'.join(base + ([node.module] if node.module else []))


def imported_names(module: str, path: str, known: Set[str]) -> List[str]:
    """Every absolute module name that ``module`` imports.

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a
    module of the package, else ``pkg``.

    Args:
        module (str): The module's dotted name.
        path (str): Its file.
        known (set[str]): The package's module names.

    Returns:
        list[str]: The imported names (also outside the package).
    """
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    is_package = path.endswith('__init__.py')
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_base(module, is_package, node)
            for alias in node.names:
                child = f'{base}.{alias.name}'
                names.append(child if child in known else base)
    return names


@pytest.fixture(scope='module')
def graph() -> Dict[str, Dict[str, List[str]]]:
    """``{module: {'all': [imported names], 'inside': [package modules]}}``."""
    files = module_files()
    known = set(files)
    result = {}
    for module, path in files.items():
        names = imported_names(module, path, known)
        result[module] = dict(
            all=names, inside=sorted({n for n in names if n in known}))
    return result


def find_cycle(edges: Dict[str, List[str]]) -> Optional[List[str]]:
    """One import circle, or None.

    Args:
        edges (dict[str, list[str]]): Module -> the modules it imports.

    Returns:
        list[str] | None: ``[a, b, ..., a]``.
    """
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for target in edges.get(node, ()):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def layer_of(module: str) -> int:
    """The layer index of a package module (see :data:`LAYERS`)."""
    parts = module.split('.')
    if len(parts) == 1:
        return ROOT_LAYER
    for index, names in enumerate(LAYERS):
        if parts[1] in names:
            return index
    raise AssertionError(f'{module}: {parts[1]} is in no layer of LAYERS; '
                         'add it to tests/test_import_graph.py')


def test_the_parser_sees_lazy_and_relative_imports(tmp_path):
    """Imports inside functions count; relative ones are resolved."""
    path = tmp_path / 'cd_dataset.py'
    path.write_text('import os\n'
                    'from ..utils.user_errors import UserError\n'
                    'from . import transforms\n'
                    'def lazy():\n'
                    '    from ..pixels import load_pair\n'
                    '    import ftan_tools.datasets\n')
    known = {'ftan_opencd.utils.user_errors', 'ftan_opencd.pixels',
             'ftan_opencd.datasets.transforms'}
    assert imported_names('ftan_opencd.datasets.cd_dataset', str(path),
                          known) == [
        'os', 'ftan_opencd.utils.user_errors',
        'ftan_opencd.datasets.transforms', 'ftan_opencd.pixels',
        'ftan_tools.datasets'
    ]
    init = tmp_path / '__init__.py'
    init.write_text('from .cd_dataset import CheckedCDDataset\n')
    assert imported_names('ftan_opencd.datasets', str(init), set()) == [
        'ftan_opencd.datasets.cd_dataset']


def test_no_import_circle(graph):
    cycle = find_cycle({m: g['inside'] for m, g in graph.items()})
    assert cycle is None, 'import circle: ' + ' -> '.join(cycle)


def test_find_cycle_reports_the_circle():
    edges = dict(a=['b'], b=['c'], c=['b'], d=[])
    assert find_cycle(edges) == ['b', 'c', 'b']
    assert find_cycle(dict(a=['b'], b=[])) is None


def test_no_module_imports_a_higher_layer(graph):
    upward = [
        f'{module} (layer {layer_of(module)}) imports {target} (layer '
        f'{layer_of(target)})' for module, imports in sorted(graph.items())
        for target in imports['inside']
        if layer_of(target) > layer_of(module)
    ]
    assert not upward, '\n'.join(upward)


def test_every_subpackage_has_a_layer(graph):
    for module in graph:
        layer_of(module)


def test_the_plugin_never_imports_the_tooling(graph):
    found = [
        f'{module} imports {name}' for module, imports in sorted(graph.items())
        for name in imports['all']
        if name == TOOLING or name.startswith(TOOLING + '.')
    ]
    assert not found, '\n'.join(found)


@pytest.mark.parametrize(
    'path', sorted(glob.glob(osp.join(REPO, 'tools', '*.py'))),
    ids=osp.basename)
def test_tools_are_thin_entry_points(path):
    with open(path) as f:
        lines = len(f.readlines())
    assert lines <= MAX_TOOL_LINES, (
        f'{osp.relpath(path, REPO)} has {lines} lines (at most '
        f'{MAX_TOOL_LINES}): move its logic into ftan_opencd/ or ftan_tools/')
