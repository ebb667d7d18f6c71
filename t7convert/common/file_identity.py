"""What tells that a file was changed: the one notion both the conversion and the command line's guard use."""
from __future__ import annotations

import os

FileIdentity = tuple[int, int, int, int]


def file_identity(path: str) -> FileIdentity | None:
    """The file's device, inode, size and modification time (ns), or None when it cannot be stat'ed: a
    rewrite in place changes the size or time, a replacement (download, re-save) the inode."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
