"""Run a Python script as ``__main__`` and record what it held at the end.

    python -m ftan_tools.benchmark.load_probe REPORT.json SCRIPT [ARGS ...]

The script (e.g. ``tools/predict.py``) runs in this process as
``python SCRIPT ARGS`` would run it: as the module ``__main__``, with
``sys.argv`` and ``sys.path[0]`` set alike; its module stays alive (as it
would until the interpreter shuts down). When it returns or exits, the open
file descriptors of the process (``/proc/self/fd``, with their targets), its
peak resident memory (``getrusage``) and its exit status are written to
``REPORT.json``; the probe then exits with the script's status. Nothing is
patched: the descriptors counted at the start (the interpreter's own) are
recorded too, so that a leak is ``end - start``. Linux only (``/proc``).
"""
import json
import os
import resource
import sys
import types
from typing import Dict, List

FD_DIR = '/proc/self/fd'


def open_descriptors() -> Dict[int, str]:
    """Open descriptors of this process and what they point to."""
    fds = {}
    for name in os.listdir(FD_DIR):
        try:
            fds[int(name)] = os.readlink(os.path.join(FD_DIR, name))
        except OSError:  # the descriptor of the listing itself, now closed
            continue
    return fds


def exit_status(code) -> int:
    """The process status ``sys.exit(code)`` gives."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1  # a message, printed by the interpreter


def main(argv: List[str]) -> int:
    """Run ``argv[1]`` with ``argv[2:]``; report to ``argv[0]``.

    Args:
        argv (list[str]): ``REPORT.json SCRIPT [ARGS ...]``.

    Returns:
        int: The script's exit status.
    """
    if len(argv) < 2:
        print('usage: python -m ftan_tools.benchmark.load_probe '
              'REPORT.json SCRIPT [ARGS ...]', file=sys.stderr)
        return 2
    report, script = argv[0], argv[1]
    start = open_descriptors()
    sys.argv = [script] + argv[2:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    with open(script, encoding='utf-8') as f:
        source = compile(f.read(), script, 'exec')
    module = types.ModuleType('__main__')
    module.__file__ = script
    sys.modules['__main__'] = module
    code = None
    try:
        exec(source, module.__dict__)  # noqa: S102 - runs the script
    except SystemExit as exc:
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
    end = open_descriptors()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(report, 'w', encoding='utf-8') as f:
        json.dump(
            dict(status=exit_status(code),
                 fds_start=len(start),
                 fds_end=len(end),
                 fds_new={str(k): v for k, v in end.items() if k not in start},
                 peak_rss_mib=usage.ru_maxrss / 1024), f, indent=1)
    return exit_status(code)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
