"""A bug of ours is reported as ours: exit 3, one line, and the traceback under T7CONVERT_DEBUG=1 (the
guarded child included); only an explicit check of the input says the input is bad (exit 2).

Each test plants a deliberate bug (a KeyError, IndexError or TypeError where no input is to blame) in a
builder, a reference layer or the reader, and runs the real console entry point in a fresh process.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch7_models as tm

# Runs the console script with one function replaced by a buggy one; argv after the script's name.
_PLANT = textwrap.dedent("""
    import sys
    target = sys.argv[1]
    if target == "builder":
        import t7convert.pytorch.modules as m
        def broken(a, children):
            return a["in_channel"]  # a typo: the attribute is in_features
        m.BUILDERS.entries["Linear"] = broken
    elif target == "reference":
        import t7convert.interpreter  # noqa: F401 (registers the layers)
        from t7convert.interpreter.registry import LAYERS
        def broken(m, x, call):
            return [][0]
        LAYERS.entries["nn.Linear"] = broken
    elif target == "reader":
        from t7convert.torch7.format import reader
        def broken(self, table, key, value, kinds):
            raise TypeError("a bug planted in the reader")
        reader._Reader._set = broken
    sys.argv = ["t7convert", *sys.argv[2:]]
    from t7convert.cli import main
    main()
""")


def _run(target: str, *args, debug: bool) -> subprocess.CompletedProcess:
    env = {"T7CONVERT_DEBUG": "1"} if debug else {}
    import os

    return subprocess.run([sys.executable, "-c", _PLANT, target, *map(str, args)], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "T7CONVERT_DEBUG"} | env)


def _mlp(tmp_path):
    return tm.save(tmp_path, "mlp", tm.sequential(tm.linear(6, 4), tm.relu(), tm.linear(4, 3)))


@pytest.mark.parametrize("target, command", [
    ("builder", ["convert", "{src}", "-o", "{out}"]),
    ("builder", ["parity", "{src}"]),
    ("reference", ["convert", "{src}", "-o", "{out}"]),
    ("reference", ["parity", "{src}"]),
    ("reader", ["inspect", "{src}"]),
    ("reader", ["convert", "{src}", "-o", "{out}"]),
])
def test_a_bug_of_ours_exits_3_with_the_traceback_under_debug(tmp_path, target, command):
    src, out = _mlp(tmp_path), tmp_path / "mlp.pth"
    args = [a.format(src=src, out=out) for a in command]
    plain = _run(target, *args, debug=False)
    assert plain.returncode == 3, (plain.stdout, plain.stderr)
    lines = plain.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("t7convert: internal error:"), plain.stderr
    assert "T7CONVERT_DEBUG=1" in lines[0]
    debug = _run(target, *args, debug=True)
    assert debug.returncode == 3, (debug.stdout, debug.stderr)
    assert "Traceback (most recent call last)" in debug.stderr and "broken" in debug.stderr, debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("t7convert: internal error:")
    assert not out.exists()


def test_without_a_planted_bug_the_same_commands_succeed(tmp_path):
    """The harness itself changes nothing: an unknown target leaves the code as it is."""
    src, out = _mlp(tmp_path), tmp_path / "mlp.pth"
    r = _run("none", "convert", src, "-o", out, debug=False)
    assert r.returncode == 0, r.stderr
    assert out.exists()


@pytest.mark.parametrize("change, words", [
    (lambda a: a.pop("in_features"), "lacks attribute in_features"),
    (lambda a: a.update(in_features="6"), "attrs.in_features is '6', not int"),
    (lambda a: a.update(in_features=-1), "attrs.in_features is -1, not int from 0"),
    (lambda a: a.update(bias=1), "attrs.bias is 1, not bool"),
    (lambda a: a.update(in_channel=6), "in_channel is not an attribute of Linear"),
])
def test_a_crafted_file_fails_at_validation_before_any_builder_runs(tmp_path, change, words):
    """What a builder reads is declared (the op's record) and checked on load: a crafted description is
    the input's fault, exit 2, even with the builders planted with a bug that would otherwise show."""
    import torch

    src, out = _mlp(tmp_path), tmp_path / "mlp.pth"
    assert _run("none", "convert", src, "-o", out, debug=False).returncode == 0
    payload = torch.load(out, weights_only=True)
    change(payload["t7convert"]["graph"]["nodes"][0]["attrs"])
    bad = tmp_path / "bad.pth"
    torch.save(payload, bad)
    r = _run("builder", "parity", src, bad, debug=True)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert words in r.stderr and "Traceback" not in r.stderr, r.stderr
