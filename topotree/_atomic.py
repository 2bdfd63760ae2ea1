"""Atomic file writes: a temporary file in the same folder, flushed and fsynced, then renamed.

A write that fails or is killed part-way leaves the previous file intact (and at worst a hidden
``.NAME.*.tmp`` file beside it, which no loader accepts).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "check_writable"]


def check_writable(path, what="file") -> Path:
    """``path`` as a Path whose folder exists and which is not a directory, or a clear error."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {what} {str(path)!r}: it is a directory")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {what} {str(path)!r}: folder {str(folder)!r} does not exist")
    return path


def atomic_write(path, write, what="file") -> Path:
    """Call ``write(fh)`` on a binary file handle, then move the result onto ``path`` atomically."""
    path = check_writable(path, what)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; give it the mode open() would
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path
