"""Rough edges users met: each test reproduces one report, through the command line or the Python API."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch7_models as tm
from PIL import Image

import t7convert
from t7convert.common.atomic import atomic_output
from t7convert.conversion.model import convert_file
from t7convert.pytorch.files import save


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "t7convert", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def small_model(tmp_path: Path) -> Path:
    """A tiny graph: conv, ReLU, 8x8 average pooling, view, linear (takes 3x8x8)."""
    model = tm.sequential(tm.conv(3, 4, 3, 3, pw=1, ph=1), tm.relu(), tm.avgpool(8, 8, 1, 1), tm.view(4),
                          tm.linear(4, 5))
    return tm.save(tmp_path, "small", model)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".t7convert-") and p.name.endswith(".tmp"))


# --- 1. SIGTERM / SIGHUP during a write leave no temporary file ----------------------------------

WRITER = textwrap.dedent("""
    import os, signal, sys, time
    from t7convert.common.atomic import atomic_output
    with atomic_output(sys.argv[1]) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"x" * 100000)
        os.kill(os.getpid(), getattr(signal, sys.argv[2]))
        time.sleep(10)
    print("survived")
""")


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_during_a_write_leave_no_temporary_file(tmp_path, name):
    target = tmp_path / "out.pth"
    done = subprocess.run([sys.executable, "-c", WRITER, str(target), name], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0 and "survived" not in done.stdout, (done.returncode, done.stdout, done.stderr)
    assert done.returncode == -getattr(signal, name)  # the process still ends as the signal says
    assert leftovers(tmp_path) == [] and not target.exists()


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
def test_atomic_output_restores_the_handlers_and_leaves_ignored_signals_ignored(tmp_path):
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        with atomic_output(tmp_path / "a.bin") as tmp:
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            Path(tmp).write_bytes(b"data")
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert (tmp_path / "a.bin").read_bytes() == b"data" and leftovers(tmp_path) == []
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_atomic_output_in_another_thread_writes_without_touching_signals(tmp_path):
    import threading

    errors = []

    def write():
        try:
            with atomic_output(tmp_path / "t.bin") as tmp:
                Path(tmp).write_bytes(b"t")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()
    assert errors == [] and (tmp_path / "t.bin").read_bytes() == b"t"


# --- 2. plain `t7convert` prints the help ----------------------------------------------------------

def test_no_arguments_prints_the_help_with_exit_0():
    done = cli()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: t7convert") and "t7convert: error" not in done.stdout + done.stderr
    assert "Commands:" in done.stdout


# --- 3. evaluate's data line says the layout once --------------------------------------------------

class _Constant(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.arange(1000, dtype=torch.float32).expand(x.shape[0], -1)


def test_evaluate_table_names_the_flat_layout_once(tmp_path):
    from t7convert.imagenet.evaluate import EvaluationReport, evaluate

    root = tmp_path / "flat"
    root.mkdir()
    for k in (1, 2):
        Image.new("RGB", (64, 64), (128, 128, 128)).save(root / f"ILSVRC2012_val_{k:08d}.JPEG", format="JPEG")
    result = evaluate(_Constant(), root, device="cpu", workers=0, progress=False)
    line = next(s for s in EvaluationReport.build("m.pth", None, "", result).table().splitlines()
                if s.startswith("data"))
    assert line.count("flat") == 1 and "((" not in line and "))" not in line, line
    assert "ground truth" in line


# --- 4. a format that contradicts the output's name -----------------------------------------------

@pytest.mark.slow
def test_safetensors_format_for_a_pth_name_is_refused_in_one_line(tmp_path):
    src = small_model(tmp_path)
    out = tmp_path / "out.pth"
    done = cli(str(src), "-o", str(out), "--format", "safetensors", "--input-size", "3,8,8")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "out.pth" in done.stderr and "safetensors" in done.stderr
    assert not out.exists() and leftovers(tmp_path) == []
    # the matching pairs still work
    assert cli(str(src), "-o", str(tmp_path / "a.safetensors"), "--format", "safetensors",
               "--input-size", "3,8,8").returncode == 0
    assert cli(str(src), "-o", str(tmp_path / "b.pth"), "--format", "pth", "--input-size", "3,8,8").returncode == 0


def test_save_refuses_the_mismatch_too(tmp_path):

    converted = convert_file(str(small_model(tmp_path)))
    with pytest.raises(t7convert.T7ConvertError, match="x.pth.*safetensors"):
        save(converted, str(tmp_path / "x.pth"), fmt="safetensors")
    with pytest.raises(t7convert.T7ConvertError, match="x.safetensors"):
        save(converted, str(tmp_path / "x.safetensors"), fmt="pth")


# --- 5. converting a file that is already PyTorch ------------------------------------------------

@pytest.mark.slow
def test_converting_a_pth_says_what_the_input_is(tmp_path):
    src = small_model(tmp_path)
    big = tmp_path / "big.pth"
    assert cli(str(src), "-o", str(big), "--input-size", "3,8,8").returncode == 0
    before = big.read_bytes()
    done = cli("big.pth", cwd=tmp_path)  # the default output would be big.pth itself
    assert done.returncode == 2
    assert "big.pth is a PyTorch checkpoint file (already converted?)" in done.stderr and ".t7" in done.stderr
    assert "being converted" not in done.stderr and done.stderr.count("\n") == 1
    assert big.read_bytes() == before
    safe = tmp_path / "m.safetensors"
    assert cli(str(src), "-o", str(safe), "--input-size", "3,8,8").returncode == 0
    done = cli(str(safe), "-o", str(tmp_path / "again.pth"))
    assert done.returncode == 2 and "is a safetensors file (already converted?)" in done.stderr


# --- 6. the Python API: missing files, the namespace, the report ----------------------------------

def test_load_of_a_missing_file_raises_file_not_found(tmp_path):
    missing = str(tmp_path / "missing.t7")
    with pytest.raises(FileNotFoundError):
        t7convert.load(missing)
    with pytest.raises(t7convert.T7ConvertError, match="missing.t7"):
        t7convert.load(missing)


def test_the_package_namespace_holds_only_its_public_names():
    public = [n for n in dir(t7convert) if not n.startswith("_")]
    assert "Any" not in public and "annotations" not in public
    assert set(public) == set(t7convert.__all__) - {"__version__"}
    assert set(public) == {"load", "convert", "parity", "sample", "read", "write", "inspect", "InputSpec", "T7ConvertError",
                           "VerificationError"}
    assert callable(t7convert.parity)  # not replaced by the subpackage t7convert.parity once it is imported
    from t7convert.parity import compare  # noqa: F401

    assert callable(t7convert.parity) and t7convert.parity is t7convert.api.parity


def test_help_starts_with_the_public_functions_and_their_signatures():
    import pydoc

    text = pydoc.render_doc(t7convert, renderer=pydoc.plaintext)
    head = "\n".join(text.splitlines()[:30])
    for name in ("load(path", "convert(path", "parity(t7_file", "sample(path", "read(path", "write(path",
                 "inspect(path"):
        assert name in head
    assert len(text.splitlines()) < 600


def test_the_conversion_report_prints_readably(tmp_path):
    src = small_model(tmp_path)
    report = t7convert.convert(str(src), str(tmp_path / "s.pth"), input_shape=(3, 8, 8))
    text = str(report)
    lines = text.splitlines()
    assert 3 <= len(lines) <= 8 and len(text) < 600, text
    assert "small.t7" in lines[0] and "parameters: 137" in text
    assert "PASS" in text and "s.pth" in text and f"{report.output_bytes:,} bytes" in text
    assert "array" not in text and "tensor" not in text
    short = repr(report)
    assert len(short) < 300 and "\n" not in short and "small.t7" in short and "verified" in short


# --- 7. convert's input-size errors name the file --------------------------------------------------

@pytest.mark.slow
def test_convert_input_size_errors_start_with_the_file_name(tmp_path):
    src = small_model(tmp_path)
    done = cli(str(src), "-o", str(tmp_path / "o.pth"), "--input-size", "3,4,4")  # smaller than the 8x8 pooling
    assert done.returncode == 2
    assert done.stderr.startswith(f"t7convert: error: {src}: on input 1x3x4x4: "), done.stderr
    assert done.stderr.count("\n") == 1
    done = cli(str(src), "-o", str(tmp_path / "o.pth"), "--input-size", "1,8,8")  # wrong number of planes
    assert done.returncode == 2 and done.stderr.startswith(f"t7convert: error: {src}: "), done.stderr
    with pytest.raises(t7convert.T7ConvertError, match=rf"^{src}: on input 1x3x4x4: "):
        t7convert.convert(str(src), None, input_shape=(3, 4, 4))


# --- 8. the README's demo files are ignored by git --------------------------------------------------

def test_the_readme_demo_outputs_are_git_ignored():
    root = Path(__file__).resolve().parent.parent
    ignored = (root / ".gitignore").read_text().split()
    assert "demo.t7" in ignored and "demo.pth" in ignored


# --- 9. synth says its weights are random -----------------------------------------------------------

def test_synth_says_the_released_architecture_has_random_weights(tmp_path):
    from t7convert.torch7.synth import ARCHS

    for name in ("resnext_50_32x4d", "resnext_101_32x4d", "resnext_101_64x4d"):
        assert "%" not in ARCHS[name].description and "architecture" in ARCHS[name].description
    done = cli("synth", "resnet20_cifar", "-o", str(tmp_path / "x.t7"))
    assert done.returncode == 0, done.stderr
    assert "random weights" in done.stdout and "%" not in done.stdout
    assert os.path.getsize(tmp_path / "x.t7") > 0


# --- 10. synth writes either ResNeXt layout, and --help is not cut --------------------------------
@pytest.mark.slow
def test_synth_flat_layout_has_the_fixtures_exact_byte_count(tmp_path, torch7_fixtures):
    fixture = torch7_fixtures / "torch7" / "models" / "resnext_tiny_32x1d_C_imagenet.t7"
    out = tmp_path / "tiny.t7"
    r = cli("synth", "resnext_tiny", "-o", str(out), "--layout", "flat")
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size == fixture.stat().st_size
    nested = tmp_path / "nested.t7"
    assert cli("synth", "resnext_tiny", "-o", str(nested)).returncode == 0
    assert nested.stat().st_size != fixture.stat().st_size  # the released files' inner Sequential


def test_the_top_level_help_shows_whole_command_descriptions():
    r = cli("--help")
    commands = r.stdout.split("Commands:", 1)[1]
    assert "..." not in commands
    assert "Convert a .t7 model to PyTorch, verified against the Torch7 graph." in " ".join(commands.split())


# --- 11. long commands show their steps on a terminal, and nothing in logs ----------------------
def _parity_stderr(src, *, tty: bool) -> str:
    import os
    import pty

    if not tty:
        return cli("parity", str(src), "--input-size", "3,8,8").stderr
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal has a size
    proc = subprocess.Popen([sys.executable, "-m", "t7convert", "parity", str(src), "--input-size", "3,8,8"],
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_parity_shows_its_steps_on_a_terminal_and_nothing_when_logged(tmp_path):
    src = tm.save(tmp_path, "m", tm.sequential(tm.conv(3, 4, 3, 3, 1, 1, 1, 1), tm.relu(), tm.maxpool(2, 2, 2, 2)))
    on_terminal = _parity_stderr(src, tty=True)
    assert "reading and converting" in on_terminal and "reference execution" in on_terminal
    assert _parity_stderr(src, tty=False) == ""
