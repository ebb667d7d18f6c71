"""Ctrl-C at any moment of a command: one line, ``t7convert: interrupted`` (or that the output was
written in full), exit 130, never a traceback (``Exception ignored in: <module 'threading'>`` included),
whether the interrupt lands during the imports, the work, the error message or the teardown, and
whether it is sent to the whole process group (the guarded parent and its child both get it)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("t7convert")
#: after the interpreter's own start-up (site's imports, which run before any of t7convert's code)
DELAYS = (0.12, 0.25, 0.4, 0.6, 0.9, 1.3, 1.8, 2.5, 3.5)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("interrupts")
    subprocess.run([str(SCRIPT), "synth", "resnext_tiny", "-o", str(folder / "m.t7")], check=True,
                   capture_output=True, timeout=300)
    return folder / "m.t7"


def _interrupt_group(argv: list[str], delay: float, cwd: Path) -> tuple[int, str]:
    p = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    time.sleep(delay)
    try:
        os.killpg(p.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    _, err = p.communicate(timeout=300)
    return p.returncode, err


def _check_one_line(code: int, err: str) -> None:
    assert "Traceback" not in err and "Exception ignored" not in err and "aborted" not in err, err
    if code == 130:
        last = err.strip().splitlines()[-1]
        assert last == "t7convert: interrupted" or last.startswith("t7convert: interrupted after"), err
    else:
        assert code == 0, (code, err)  # it had finished before the interrupt


@pytest.mark.slow
@pytest.mark.skipif(not SCRIPT.exists() or not hasattr(os, "killpg"), reason="needs the console script, POSIX")
@pytest.mark.parametrize("command", ["convert", "inspect"])
def test_ctrl_c_at_any_moment_is_one_line_and_never_a_traceback(model, tmp_path, command):
    codes = []
    for delay in DELAYS:
        argv = ([str(SCRIPT), str(model), "-o", str(tmp_path / f"out{delay}.pth"), "--force"]
                if command == "convert" else [str(SCRIPT), "inspect", str(model)])
        code, err = _interrupt_group(argv, delay, tmp_path)
        _check_one_line(code, err)
        codes.append(code)
    assert 130 in codes, "no interrupt landed while the command ran"
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_click_abort_and_keyboard_interrupt_say_the_same_words():
    import click

    from t7convert.cli import _interrupted
    from t7convert.common.interrupts import MESSAGE

    abort = click.exceptions.Abort()
    abort.__cause__ = KeyboardInterrupt()
    assert _interrupted(abort.__cause__) == _interrupted(KeyboardInterrupt()) == MESSAGE == "t7convert: interrupted"
