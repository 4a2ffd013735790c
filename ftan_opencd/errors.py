"""User mistakes and the one way the tools report them.

A wrong path, a config and a checkpoint given in the wrong order, an
option out of range or an unreadable image is not a bug: a tool says in
one line what is wrong and what to do, ``error: <message>`` on stderr, and
exits with status :data:`USER_ERROR_STATUS` (2, as argparse does for a bad
option), without a Python traceback. Every ``tools/*.py`` entry point is
wrapped in :func:`exit_on_user_error`, which does that for the exception
types of :data:`USER_ERRORS` only; anything else (a bug) keeps its
traceback. Set ``FTAN_TRACEBACK=1`` to see the traceback of a user error
too.

:class:`UserError` is the one base of the project's own user errors; the
others derive from it::

    ValueError
     └── UserError                     ftan_opencd.errors
          ├── CheckpointError          ftan_opencd.utils.checkpoint
          │    └── UnsafeCheckpointError   (also pickle.UnpicklingError)
          ├── EnvironmentMismatch      ftan_opencd.env_check (also ImportError)
          └── DatasetError             ftan_tools.datasets.tiling

This module is the lowest layer: it imports only the standard library and
nothing of the package, so every module (``env_check``, ``utils``,
``pixels``, ``ftan_tools``) can use it without an import circle.
"""
import functools
import os
import re
import sys
from typing import Callable

USER_ERROR_STATUS = 2  # the status of argparse's errors, too
TRACEBACK_ENV = 'FTAN_TRACEBACK'
# mmengine's registry re-raises a constructor's error as
# "class `Name` in package/module.py: <message>".
_REGISTRY_PREFIX = re.compile(r'^class `\w+` in [\w/.]+: ')
_WORKER_TRACEBACK = 'Original Traceback (most recent call last)'


class UserError(ValueError):
    """A mistake in the command line, the config, the data or the install.

    The message names the file or option and says what to do. A
    ``ValueError`` subclass, so code that catches ``ValueError`` still
    catches it.
    """


# FileNotFoundError & co. come from the folder and file checks (data roots,
# data sets, checkpoint files, output folders).
USER_ERRORS = (UserError, FileNotFoundError, IsADirectoryError,
               NotADirectoryError)


def user_message(exc: BaseException) -> str:
    """The message of a user error, without wrappers added on its way up.

    A data loader worker's error carries the worker's traceback as text
    (its last line is the original ``Type: message``); mmengine's registry
    prefixes ``class `Name` in module.py:``. Both are dropped, and a
    message of several lines is joined into one (``; `` between lines,
    a space after a line that ends with ``:``).

    Args:
        exc (BaseException): The error.

    Returns:
        str: The message to show, one line.
    """
    text = str(exc)
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        text = f'{exc.strerror}: {exc.filename}'
    if _WORKER_TRACEBACK in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = re.sub(r'^[\w.]+: ', '', last.strip())
    while _REGISTRY_PREFIX.match(text):
        text = _REGISTRY_PREFIX.sub('', text, count=1)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = lines[0] if lines else ''
    for line in lines[1:]:
        text += (' ' if text.endswith(':') else '; ') + line
    return text or type(exc).__name__


def exit_on_user_error(main: Callable) -> Callable:
    """Wrap a tool's entry point: a user error exits with one message.

    The exception types of :data:`USER_ERRORS` are printed as
    ``error: <message>`` on stderr and end the process with status
    :data:`USER_ERROR_STATUS` (``SystemExit``); other exceptions pass
    through with their traceback. ``FTAN_TRACEBACK=1`` re-raises user
    errors too.

    Args:
        main (Callable): The tool's entry point.

    Returns:
        Callable: ``main`` with the same signature and return value.
    """

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except USER_ERRORS as exc:
            if os.environ.get(TRACEBACK_ENV, '') not in ('', '0'):
                raise
            # one write, so that the lines of several ranks sharing a
            # stderr do not interleave
            sys.stderr.write(f'error: {user_message(exc)}\n')
            sys.stderr.flush()
            raise SystemExit(USER_ERROR_STATUS) from None

    return wrapper
