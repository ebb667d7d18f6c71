"""The README's code blocks run as written, in order, in the set-up's environment.

Each fenced block is ``sh`` or ``python``; one whose info string says ``not-run: why`` needs what only a
user holds (ImageNet, a GPU, their own checkpoints or plugin package, the environment the test itself
runs in) and must say why. Every other block runs in one folder of its own, in README order, with this
environment's ``bin`` (the ``t7convert`` script) first on the PATH; a block fails the test when it exits
non-zero. The files they use, they make themselves (``t7convert synth``)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^( *)```(.*)$")


def blocks(text: str) -> list[tuple[int, str, str]]:
    """(line, info string, code) of every fenced block, indentation of list items removed."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, info, start = len(m.group(1)), m.group(2).strip(), i
        body = []
        i += 1
        while i < len(lines) and not re.match(r"^ *```\s*$", lines[i]):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        assert i < len(lines), f"README line {start + 1}: a code block that is never closed"
        out.append((start + 1, info, "\n".join(body) + "\n"))
        i += 1
    return out


def test_every_readme_block_is_sh_or_python_and_says_why_when_it_does_not_run():
    found = blocks(README.read_text(encoding="utf-8"))
    assert found, "the README has code blocks"
    for line, info, _ in found:
        language, _, rest = info.partition(" ")
        assert language in ("sh", "python"), f"README line {line}: a block of {language or 'no language'!r}"
        if rest:
            assert re.match(r"not-run: \S.{10,}", rest), f"README line {line}: 'not-run: why', got {rest!r}"
    assert any(not info.partition(" ")[2] for _, info, _ in found), "some blocks run"
    indented = [n for n, ln in enumerate(README.read_text(encoding="utf-8").split("\n"), 1)
                if re.match(r"^    t7convert |^    python3 ", ln)]
    assert not indented, f"README lines {indented}: an indented code block the test would not run"


@pytest.mark.slow
def test_the_readme_code_blocks_run_as_written_in_order(tmp_path):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("T7CONVERT_NO_GUARD", None)
    ran = 0
    for line, info, code in blocks(README.read_text(encoding="utf-8")):
        if info.partition(" ")[2]:
            continue  # not-run: checked above
        if info == "sh":
            argv = ["bash", "-euo", "pipefail", "-c", code]
        else:
            argv = [sys.executable, "-c", code]
        r = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"README block at line {line} failed ({r.returncode}):\n{code}\n" \
                                  f"--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
        ran += 1
    assert ran >= 2


def test_the_faq_quotes_messages_t7convert_still_writes():
    """Each FAQ row's quoted message is made of words the code still writes (a message changed in the
    code and not in the FAQ fails here); torchvision's own message is the one exception."""
    text = README.read_text(encoding="utf-8")
    faq = text[text.index("## When something goes wrong (FAQ)"):text.index("## Real projects checked")]
    rows = [line for line in faq.splitlines() if line.startswith("| `")]
    assert len(rows) >= 10
    source = "\n".join(p.read_text(encoding="utf-8") for p in (README.parent / "t7convert").rglob("*.py"))
    for row in rows:
        for quoted in re.findall(r"`([^`]+)`", row.split(" | ")[0]):
            if "torchvision::" in quoted:
                continue
            for piece in re.split(r"\.\.\.|\bN\b|\bM\b|nn\.X|model_N\.t7|modules\[\.\.\]", quoted):
                piece = piece.strip(" .;:,()")
                if len(piece) >= 8:
                    assert piece in source, f"FAQ quotes {piece!r}, which t7convert no longer writes"


def test_resnext101_32x4d_gets_the_torchvision_and_timm_calls_that_build_it():
    from t7convert.conversion.resnet_spec import ResNetSpec

    spec = ResNetSpec(block="bottleneck", layers=[3, 4, 23, 3], groups=32, width_per_group=4)
    assert spec.torchvision_name is None and spec.title == "ResNeXt-101 32x4d"
    assert spec.torchvision_call == ("torchvision.models.resnet.ResNet(torchvision.models.resnet.Bottleneck, "
                                     "[3, 4, 23, 3], groups=32, width_per_group=4)")
    assert spec.timm_name == "resnext101_32x4d"
    assert "ResNet(Bottleneck, [3, 4, 23, 3], groups=32, width_per_group=4)" in README.read_text(encoding="utf-8")
    assert 'timm.create_model("resnext101_32x4d")' in README.read_text(encoding="utf-8")
    cifar = ResNetSpec(block="basic", layers=[3, 3, 3], widths=[16, 32, 64], stem="cifar", num_classes=10)
    assert cifar.torchvision_call is None  # torchvision's class cannot build a CIFAR trunk
