"""Opening an input for reading: only a regular file.

A FIFO given as the model (``mkfifo m.t7``) would block ``open()`` until a writer came, and a pipe
(``<(cat m.t7)``, ``/dev/stdin``) reads once, so the reader cannot map it and a second look at it finds
it empty. Inputs are opened without blocking and their kind is checked on the open descriptor (no
window between the check and the open); anything but a regular file is refused with an ``OSError``
whose ``strerror`` says what it is, which every caller already turns into its one-line "cannot read".
"""
from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

_KINDS = ((stat.S_ISFIFO, "a FIFO or pipe"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


class NotRegularFile(OSError):
    """The input is a FIFO, a pipe, a device, a socket or a folder."""


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """``open(path, "rb")`` for a regular file (symlinks followed); :class:`NotRegularFile` otherwise."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise NotRegularFile(errno.EINVAL, f"it is {kind}, not a regular file (give the model as a file)",
                                 os.fspath(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str | os.PathLike) -> None:
    """Raise :class:`NotRegularFile` (or the OSError of opening it) unless ``path`` is a regular file."""
    open_regular(path).close()
