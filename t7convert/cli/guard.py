"""Run a command in a child process so that a death by signal becomes a one-line error.

The reader memory-maps its input. When that file is truncated or rewritten in place while it is read
(``cp`` onto it, a download to the same path, Torch7 saving again), touching a page past the new end
raises SIGBUS, and no Python code can recover from that in the process that took it: the faulting
instruction would run again. So the command line does its work in a forked child and the parent only
waits. If the child dies of a signal, the parent says in one line what that means (the input changed,
memory ran out, a crash), removes the temporaries the child left, and exits 2 (3 for a crash of ours);
every other ending, exit code and message included, is the child's own.

Signals sent to the parent (``kill``, ``timeout``) are passed on to the child, which handles them as
it always has; a Ctrl-C at a terminal reaches both already and is not passed twice.
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Callable, NoReturn

from t7convert.common.atomic import bind_to_parent, remove_temporaries_of
from t7convert.common.file_identity import FileIdentity, file_identity

_FORWARDED = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
                   if hasattr(signal, n))
_CRASHES = tuple(getattr(signal, n) for n in ("SIGSEGV", "SIGILL", "SIGFPE", "SIGABRT", "SIGSYS") if hasattr(signal, n))


def enabled() -> bool:
    """Forking is POSIX's; ``T7CONVERT_NO_GUARD=1`` runs in one process (a debugger, a profiler)."""
    return hasattr(os, "fork") and hasattr(os, "waitstatus_to_exitcode") and not os.environ.get("T7CONVERT_NO_GUARD")


def run_guarded(work: Callable[[], None], argv: list[str]) -> None:
    """Run ``work()`` in a child; in the parent, wait for it and end as it ended (see the module's doc)."""
    if not enabled():
        work()
        return
    files = _files_named(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    # held from the fork until the parent forwards them: a Ctrl-C in between reaches the parent's
    # forwarding, never its default handler (a KeyboardInterrupt traceback beside the child's message)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
    pid = os.fork()
    if pid == 0:  # the child does the work and ends as the command always has, and dies with the parent
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        bind_to_parent(parent)
        work()
        return
    _wait_and_end(pid, files, argv, mask)


def _wait_and_end(pid: int, files: dict[str, FileIdentity | None], argv: list[str],
                  mask: set[signal.Signals] | None = None) -> NoReturn:
    def forward(signum: int, _frame: object) -> None:
        if signum == signal.SIGINT and _terminal_sent_it():
            return  # the terminal's Ctrl-C went to the whole foreground group, the child included
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in _FORWARDED:
        try:
            if signal.getsignal(signum) is not signal.SIG_IGN:  # what nohup ignores stays ignored
                signal.signal(signum, forward)
        except (OSError, ValueError):
            pass
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    _, status = os.waitpid(pid, 0)  # PEP 475: retried after each forwarded signal
    if not os.WIFSIGNALED(status):
        os._exit(os.waitstatus_to_exitcode(status))
    signum = os.WTERMSIG(status)
    for directory in _folders_named(argv):
        remove_temporaries_of(pid, directory)
    if signum in _FORWARDED:
        _die_by(signum)  # someone ended it on purpose: end the same way
    sys.stderr.write(_death_message(signum, _changed(files)) + "\n")
    sys.stderr.flush()
    os._exit(3 if signum in _CRASHES else 2)


def _death_message(signum: int, changed: list[str]) -> str:
    name = signal.Signals(signum).name
    if signum == getattr(signal, "SIGBUS", None):
        if changed:
            return (f"t7convert: error: {', '.join(changed)} changed while it was being read (truncated or "
                    f"rewritten in place; {name}); nothing was written: run again once the file is complete")
        return (f"t7convert: error: a memory-mapped file could not be read ({name}: it was truncated, or its "
                "storage failed); nothing was written")
    if signum == signal.SIGKILL:
        return (f"t7convert: error: the work was killed ({name}), most likely by the kernel for lack of memory; "
                "nothing was written (see --memory-limit, or --no-verify)")
    return f"t7convert: internal error: the work crashed ({name}); nothing was written (set T7CONVERT_DEBUG=1)"


def _die_by(signum: int) -> NoReturn:
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # a signal whose default action does not end the process


def _terminal_sent_it() -> bool:
    """Whether this process is in a terminal's foreground group, where Ctrl-C reaches every member."""
    for fd in (0, 1, 2):
        try:
            return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def _files_named(argv: list[str]) -> dict[str, FileIdentity | None]:
    """The regular files the command line names, with what identifies their content now."""
    out = {}
    for a in argv:
        if a.startswith("-") or len(a) > 4096:
            continue
        try:
            if os.path.isfile(a):
                out[a] = file_identity(a)
        except (OSError, ValueError):
            pass
    return out


def _changed(files: dict[str, FileIdentity | None]) -> list[str]:
    return [p for p, before in files.items() if file_identity(p) != before]


def _folders_named(argv: list[str]) -> set[str]:
    """Where the child may have left a temporary: beside any path the command line names."""
    folders = {os.getcwd()}
    for a in argv:
        value = a.split("=", 1)[1] if a.startswith("--") and "=" in a else a
        if not value or value.startswith("-") or len(value) > 4096:
            continue
        try:
            folder = os.path.dirname(os.path.abspath(value))
            if os.path.isdir(folder):
                folders.add(folder)
        except (OSError, ValueError):
            pass
    return folders
