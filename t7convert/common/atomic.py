"""Outputs that appear whole or not at all: write a temporary file beside the target, then rename.

Shared by the ``.t7`` writer and the converted-model writer. The temporary file gets the permissions
that ``open()`` would have given the target (mkstemp's are 0600), and any failure, an interrupt
included, removes it and leaves an existing target untouched. SIGTERM and SIGHUP (a ``kill``, a closed
terminal) are handled like Ctrl-C while the file is written: the temporary file is removed, the previous
handlers are restored, and the signal is delivered again so that the process ends as it would have.
The temporary file is flushed to disk before the rename, and the folder after it.
"""
from __future__ import annotations

import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from t7convert.common.errors import T7ConvertError


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived while an output was being written (raised like Ctrl-C's KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path to write; on success it is renamed onto ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    installed = _install_handlers()  # before the file exists, so that no signal can leave it behind
    try:
        try:
            fd, tmp = tempfile.mkstemp(prefix=".t7convert-", suffix=".tmp", dir=directory)
            os.close(fd)
        except OSError as e:
            raise T7ConvertError(f"cannot write {path}: {e.strerror or e}") from None
        try:
            yield tmp
            _fsync(tmp)
            os.chmod(tmp, _mode_for(path))
            os.replace(tmp, path)
            _fsync(directory, folder=True)
        except BaseException as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if isinstance(e, OSError):
                raise T7ConvertError(f"cannot write {path}: {e.strerror or e}") from None
            raise
    except Terminated as e:
        _restore_handlers(installed)
        if e.signum in installed:  # ours to deliver again: end as the signal's default action would
            os.kill(os.getpid(), e.signum)
        raise
    finally:
        _restore_handlers(installed)


def _raise_terminated(signum: int, _frame: Any) -> None:
    raise Terminated(signum)


def _install_handlers() -> dict[int, Any]:
    """Turn SIGTERM/SIGHUP into :class:`Terminated` where they still have their default action (a signal
    someone ignores, as nohup does SIGHUP, or handles stays theirs); only the main thread can do this."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    installed = {}
    for signum in _SIGNALS:
        try:
            if signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, _raise_terminated)
                installed[signum] = signal.SIG_DFL
        except (OSError, ValueError):
            pass
    return installed


def _restore_handlers(installed: dict[int, Any]) -> None:
    for signum, previous in installed.items():
        try:
            signal.signal(signum, previous)
        except (OSError, ValueError):
            pass


def _fsync(path: str, *, folder: bool = False) -> None:
    """Flush a file's data to disk (a failure is a failed write), or a folder's entries where the system
    allows it (not on Windows, not on every file system)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(fd)


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
