"""Outputs that appear whole or not at all: write a temporary file beside the target, then rename.

Shared by the ``.t7`` writer and the converted-model writer. The temporary file gets the permissions
that ``open()`` would have given the target (mkstemp's are 0600), and any failure, an interrupt
included, removes it and leaves an existing target untouched.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import Iterator

from t7convert.common.errors import T7ConvertError


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path to write; on success it is renamed onto ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".t7convert-", suffix=".tmp", dir=directory)
    except OSError as e:
        raise T7ConvertError(f"cannot write {path}: {e.strerror or e}") from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise T7ConvertError(f"cannot write {path}: {e.strerror or e}") from None
        raise


def check_writable(path: str | os.PathLike) -> None:
    """Fail early (before minutes of work) when ``path``'s folder does not exist or is not writable."""
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(directory):
        raise T7ConvertError(f"cannot write {os.fspath(path)}: no folder {directory}")
    if not os.access(directory, os.W_OK):
        raise T7ConvertError(f"cannot write {os.fspath(path)}: the folder {directory} is not writable")


def _mode_for(path: str) -> int:
    """The permissions of the file being replaced, or of a new file under the process's umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
