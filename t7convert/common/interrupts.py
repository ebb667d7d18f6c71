"""One message for Ctrl-C, never a traceback, at any moment of a command-line run.

A Ctrl-C (or a SIGINT sent to the whole process group, as ``timeout`` and job control do) can land while
Python imports numpy and torch, while the command works, while it prints its error, or while the
interpreter tears down after it has finished. Python's default handler turns each into a
KeyboardInterrupt traceback (``Exception ignored in: <module 'threading'>`` at teardown), and a guarded
run gets the signal twice (the group's, and the parent's forwarding of it). So the console script goes
through three phases:

* :func:`install_early`, from the package's first lines when the ``t7convert`` script is ``__main__``:
  until the command starts, an interrupt prints :data:`MESSAGE` and ends the process (nothing to clean
  up yet).
* :func:`install`, when the command starts: the first interrupt raises KeyboardInterrupt once (so that
  ``finally`` blocks remove temporaries and the CLI prints :data:`MESSAGE`), and every later one is
  ignored.
* :func:`ignore`, once the command has ended: nothing is left to interrupt.

Only signal handlers change, and only in the process of the ``t7convert`` command; the library, used
from Python, keeps Python's default behaviour.
"""
from __future__ import annotations

import os
import signal
import sys

MESSAGE = "t7convert: interrupted"
EXIT_INTERRUPTED = 130


def _early(_signum: int, _frame: object) -> None:
    try:
        os.write(2, (MESSAGE + "\n").encode())
    finally:
        os._exit(EXIT_INTERRUPTED)


def _once(_signum: int, _frame: object) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def is_console_script() -> bool:
    """Whether this process is the ``t7convert`` console script (not a user's program importing us)."""
    main = sys.modules.get("__main__")
    name = os.path.basename(str(getattr(main, "__file__", "") or ""))
    return name in ("t7convert", "t7convert-script.py")


def _set(handler) -> None:
    try:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # what nohup or a shell ignores stays so
            signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):  # not the main thread
        pass


def install_early() -> None:
    _set(_early)


def install() -> None:
    _set(_once)


def ignore() -> None:
    _set(signal.SIG_IGN)
