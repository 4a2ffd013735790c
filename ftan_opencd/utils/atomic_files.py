"""Write files whole or not at all: a temporary name, then a rename.

A process killed while it writes (``kill -9``, a node failure, the end of
a SLURM grace period) leaves at most a hidden ``.NAME.partial`` file,
never a truncated file under the final name. The rename is atomic on POSIX
file systems when the temporary file is in the same folder.
"""
import os
import os.path as osp


def partial_path(path: str) -> str:
    """Temporary name of ``path`` while it is written (same folder).

    ``out/mask.tif`` is written as ``out/.mask.partial.tif``, so that the
    temporary file keeps the suffix that selects its format.

    Args:
        path (str): The final file name.

    Returns:
        str: The hidden temporary name beside it.
    """
    folder, name = osp.split(osp.abspath(str(path)))
    stem, suffix = osp.splitext(name)
    return osp.join(folder, f'.{stem}.partial{suffix}')


def _sync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (where the OS allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` through :func:`partial_path` and rename.

    The data is flushed to disk (``fsync``) before the rename, so that a
    file under the final name is complete even after a power or node
    failure. On an exception the temporary file is removed.

    Args:
        data (bytes): The file content.
        path (str): The final file name; its folder is created.
    """
    path = str(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = partial_path(path)
    try:
        with open(partial, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    finally:
        if osp.exists(partial):
            os.remove(partial)
    _sync_folder(folder)


def atomic_write_text(text: str, path: str, encoding: str = 'utf-8') -> None:
    """:func:`atomic_write_bytes` for text.

    Args:
        text (str): The file content.
        path (str): The final file name.
        encoding (str): Text encoding. Defaults to 'utf-8'.
    """
    atomic_write_bytes(text.encode(encoding), path)
