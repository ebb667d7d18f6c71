"""Outputs that appear whole or not at all: write a temporary file beside the target, then rename.

Shared by the ``.t7`` writer and the converted-model writer. The temporary file gets the permissions
that ``open()`` would have given the target (mkstemp's are 0600), and any failure, an interrupt
included, removes it and leaves an existing target untouched. SIGTERM and SIGHUP (a ``kill``, a closed
terminal) are handled like Ctrl-C while the file is written: the temporary file is removed, the previous
handlers are restored, and the signal is delivered again so that the process ends as it would have.
The temporary file is flushed to disk before the rename, and the folder after it.

Only a regular file (or a symlink: the link itself is replaced) is ever replaced; a device, a FIFO or
a folder at the output's name is refused. ``exclusive=True`` (an output written without ``--force``)
creates the final name exclusively, so that of two simultaneous runs to one new name only one wins and
the other says the name exists: ``os.link`` of the finished temporary file (atomic, fails when the name
exists), else Linux's ``renameat2(RENAME_NOREPLACE)``; on a file system with neither (FAT, some network
mounts) the check made before the work began is all there is, and the rename replaces. Temporary files
are named ``.t7convert-PID-*.tmp``: a SIGKILL leaves one behind, and the next run writing to that folder
removes those of ours whose process is gone (or started after the file was last written). A signal that
arrives once the output is in place does not make it a lie: :class:`InterruptedAfterWrite` says the
file is complete.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import os
import re
import signal
import stat
import sys
import tempfile
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from t7convert.common.errors import T7ConvertError


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived while an output was being written (raised like Ctrl-C's KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class InterruptedAfterWrite(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM/SIGHUP) arrived after the output was complete and in place."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_PREFIX = ".t7convert-"
_OURS = re.compile(r"^\.t7convert-(\d+)-[A-Za-z0-9_]+\.tmp$")


@contextmanager
def atomic_output(path: str | os.PathLike, *, exclusive: bool = False) -> Iterator[str]:
    """Yield a temporary path to write; on success it is renamed onto ``path``. ``exclusive``: fail with
    "exists" rather than replace a file that appeared at ``path`` meanwhile."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    check_replaceable(path)
    installed = _install_handlers()  # before the file exists, so that no signal can leave it behind
    written = False
    try:
        remove_stale_temporaries(directory)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f"{_PREFIX}{os.getpid()}-", suffix=".tmp", dir=directory)
            os.close(fd)
        except OSError as e:
            raise T7ConvertError(f"cannot write {path}: {e.strerror or e}") from None
        try:
            with _early_writeback(tmp):
                yield tmp
            _fsync(tmp)
            os.chmod(tmp, _mode_for(path))
            check_replaceable(path)
            check_parent_alive()
            with _signals_deferred():  # the rename and knowing it happened are one step
                _publish(tmp, path, exclusive)
                written = True
            _fsync(directory, folder=True)
        except BaseException as e:
            if not written:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            if isinstance(e, OSError):
                raise T7ConvertError(f"cannot write {path}: {e.strerror or e}") from None
            if written and isinstance(e, KeyboardInterrupt) and not isinstance(e, Terminated):
                raise InterruptedAfterWrite(path) from None
            raise
    except Terminated as e:
        _restore_handlers(installed)
        if e.signum in installed:  # ours to deliver again: end as the signal's default action would
            os.kill(os.getpid(), e.signum)
        raise
    finally:
        _restore_handlers(installed)


#: the process that forked this one to do the work (cli/guard.py), or None: once it is gone, nothing is
#: published (its user was told the command ended)
_GUARD_PARENT: list[int] = []


def bind_to_parent(parent: int) -> None:
    """In a child doing a command's work: die with ``parent`` (Linux's PR_SET_PDEATHSIG; SIGKILL, so no
    handler runs on), and never publish an output once it is gone (the check below covers systems
    without prctl and the moment between the parent's death and the signal)."""
    _GUARD_PARENT[:] = [parent]
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(2)


def check_parent_alive() -> None:
    """Before publishing: a work whose guarding parent is gone ends here, its temporary removed."""
    if _GUARD_PARENT and os.getppid() != _GUARD_PARENT[0]:
        raise Terminated(signal.SIGKILL)


def check_replaceable(path: str) -> None:
    """Refuse to put a file where a device, a FIFO, a socket or a folder is (as root, a rename would
    replace /dev/null); a regular file or a symlink (the link is replaced, not its target) is fine."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        kinds = {stat.S_ISDIR: "a folder", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
                 stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket"}
        kind = next((name for test, name in kinds.items() if test(mode)), "not a regular file")
        raise T7ConvertError(f"{path} is {kind}; t7convert replaces only regular files, so choose another output")


def _publish(tmp: str, path: str, exclusive: bool) -> None:
    """Put the finished ``tmp`` at ``path``: replacing whatever regular file is there, or (``exclusive``)
    only if nothing is, atomically, where the file system allows it."""
    if not exclusive:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise T7ConvertError(f"{path} exists; pass --force to overwrite it") from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS):
            raise
        _rename_noreplace(tmp, path)
        return
    os.unlink(tmp)


def _rename_noreplace(tmp: str, path: str) -> None:
    """Linux's renameat2(RENAME_NOREPLACE) where libc has it; else a plain rename (documented above)."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        os.replace(tmp, path)
        return
    at_fdcwd, rename_noreplace = -100, 1
    if renameat2(at_fdcwd, os.fsencode(tmp), at_fdcwd, os.fsencode(path), rename_noreplace) == 0:
        return
    err = ctypes.get_errno()
    if err == errno.EEXIST:
        raise T7ConvertError(f"{path} exists; pass --force to overwrite it")
    if err in (errno.EINVAL, errno.ENOSYS):  # the file system cannot: fall back
        os.replace(tmp, path)
        return
    raise OSError(err, os.strerror(err), path)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP for the duration (they are delivered after it), where possible."""
    held = {signal.SIGINT, *_SIGNALS}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def remove_stale_temporaries(directory: str) -> None:
    """Remove ``.t7convert-PID-*.tmp`` files in ``directory`` that a killed run of ours left: the same
    owner, and a process PID that no longer exists or that started after the file was last written."""
    uid = getattr(os, "getuid", lambda: None)()
    _remove_ours(directory, _PREFIX, lambda pid, st: (uid is None or st.st_uid == uid)
                 and not _alive_since(pid, st.st_mtime))


def remove_temporaries_of(pid: int, directory: str) -> None:
    """Remove the ``.t7convert-PID-*.tmp`` files process ``pid`` (a child that died) left in ``directory``."""
    _remove_ours(directory, f"{_PREFIX}{pid}-", lambda _pid, _st: True)


def _remove_ours(directory: str, prefix: str, stale: Callable[[int, os.stat_result], bool]) -> None:
    """Unlink the regular files in ``directory`` named as our temporaries (and starting with ``prefix``)
    for which ``stale(pid in the name, lstat)`` holds."""
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        match = _OURS.match(name)
        if not match:
            continue
        full = os.path.join(directory, name)
        try:
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode) and stale(int(match.group(1)), st):
                os.unlink(full)
        except OSError:
            pass


def _alive_since(pid: int, mtime: float) -> bool:
    """Whether process ``pid`` exists and may have written a file last modified at ``mtime``."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    started = _start_time(pid)
    return started is None or started <= mtime + 1


def _start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from Linux's /proc; None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/stat", "rb") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


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


@contextmanager
def _early_writeback(path: str, interval: float = 0.05) -> Iterator[None]:
    """While the caller writes ``path``, keep asking the kernel to start writing its dirty pages out
    (``sync_file_range(SYNC_FILE_RANGE_WRITE)``, asynchronous), so that the fsync before the rename
    waits for the last pages only instead of the whole file: durability at almost no cost in time."""
    start = _sync_file_range()
    if start is None:
        yield
        return
    stop = threading.Event()

    def push() -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            while not stop.wait(interval):
                start(fd, 0, 0, 2)  # SYNC_FILE_RANGE_WRITE: begin writeback, do not wait for it
        finally:
            os.close(fd)

    thread = threading.Thread(target=push, name="t7convert-writeback", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@functools.lru_cache(maxsize=1)
def _sync_file_range():
    """libc's sync_file_range (Linux), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


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
    """A new file's permissions under the process's umask, whatever ``path`` was: copying a replaced
    file's mode would copy its setuid, setgid and sticky bits too (``--force`` onto a link to a setuid
    program gave a setuid output), and a link's target is not ours to describe."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
