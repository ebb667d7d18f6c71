"""reference/dump_reference.lua: the script users with Torch7 run to make ``parity --reference`` files.

Without Torch7 here, the script is checked for what can be checked: it compiles (with a Lua compiler
when one is installed), it documents every option it reads, and it has a CPU forward for every cudnn
class t7convert converts. Where a Torch7 ``th`` is on PATH it runs on every shared fixture model, and
``t7convert parity --reference`` must pass on what it wrote; otherwise those tests skip, saying so.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import t7convert
from t7convert.conversion.context import supported_classes

SCRIPT = Path(__file__).resolve().parent.parent / "reference" / "dump_reference.lua"
SOURCE = SCRIPT.read_text()
HEADER = SOURCE[: SOURCE.index("--]]")]


def test_dump_reference_lua_is_valid_lua():
    luac = shutil.which("luac5.1") or shutil.which("luac") or shutil.which("luajit")
    if luac is None:
        pytest.skip("no Lua compiler here (apt install luajit to check reference/dump_reference.lua)")
    flag = ["-bl"] if luac.endswith("luajit") else ["-p"]
    result = subprocess.run([luac, *flag, str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_option_the_script_reads_is_documented_in_its_header():
    options = set(re.findall(r"['\"](DUMP_[A-Z_]+)['\"]", SOURCE))
    assert {"DUMP_INPUT_SIZE", "DUMP_BATCH", "DUMP_SEED", "DUMP_CUDA_AS_CPU"} <= options
    for name in options:
        assert re.search(rf"^  {name}=", HEADER, re.M), f"{name} is read but not documented in the header"


def test_every_cudnn_class_t7convert_converts_has_a_cpu_forward_and_a_stand_in():
    forwards = set(re.findall(r"\['(cudnn\.[A-Za-z]+)'\]", SOURCE))
    declared = set(re.findall(r"declare\('(cudnn\.[A-Za-z]+)'", SOURCE))
    for group in re.findall(r"for _, name in ipairs\(\{([^}]*)\}\) do\s*declare\('cudnn\.' \.\. name", SOURCE):
        declared |= {"cudnn." + n for n in re.findall(r"'([A-Za-z]+)'", group)}
    cudnn = {c for c in supported_classes() if c.startswith("cudnn.")}
    assert cudnn, "t7convert converts no cudnn class?"
    assert cudnn <= forwards, f"no CPU forward in dump_reference.lua for {sorted(cudnn - forwards)}"
    assert cudnn <= declared, f"no stand-in in dump_reference.lua for {sorted(cudnn - declared)}"
    assert forwards - {"cudnn.SpatialLogSoftMax", "cudnn.VolumetricLogSoftMax"} <= declared


def test_cuda_classes_and_incompatible_functions_are_handled_at_load():
    for element in ("", "Double", "Half", "Long", "Int", "Short", "Char", "Byte"):
        assert element == "" or f"'{element}'" in SOURCE
    assert "torch.factory = function(name)" in SOURCE  # File:readObject builds objects through it
    assert "upvalueIndex(readObject, 'loadstring')" in SOURCE  # File.lua keeps loadstring in a local
    assert "nn.DataParallelTable" in SOURCE and "__read" in SOURCE


# --- with a real Torch7 -------------------------------------------------------------------------------

def _th() -> str:
    th = shutil.which("th")
    if th is None:
        pytest.skip("no Torch7 `th` on PATH: reference/dump_reference.lua was NOT run on the fixture models")
    return th


def _fixture_models(root: Path) -> list[tuple[Path, tuple[int, ...] | None]]:
    """Each model with the per-sample input shape its ref was made with (None: any the model takes)."""
    with open(root / "torch7" / "models" / "MANIFEST.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    models = [(root / "torch7" / "models" / f"{r['id']}.t7", tuple(int(n) for n in r["input"].split("x")[1:]))
              for r in rows]
    formats = [(root / "torch7" / "formats" / f"model.{v}.t7", None) for v in ("binary", "ascii", "long4")]
    return models + formats


def _dump(th: str, model: Path, out: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([th, str(SCRIPT), str(model), str(out)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def _parity(model: Path, reference: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "t7convert", "parity", str(model), "--reference", str(reference)],
                          capture_output=True, text=True, timeout=600)


def test_the_script_runs_on_every_fixture_model_and_parity_passes_on_what_it_wrote(torch7_fixtures, tmp_path):
    th = _th()
    for model, sample in _fixture_models(torch7_fixtures):
        out = tmp_path / (model.stem + ".dump.ref.t7")
        done = _dump(th, model, out)
        assert done.returncode == 0, (model.name, done.stderr[-2000:])
        ref = t7convert.read(out)
        if sample is not None:  # derived as t7convert derives it: 3x32x32 for CIFAR, 3x224x224 for ImageNet
            assert tuple(ref["input"].shape) == (1, *sample), (model.name, ref["input"].shape)
            assert ref["output"].shape[0] == 1, (model.name, ref["output"].shape)
        checked = _parity(model, out)
        assert checked.returncode == 0, (model.name, checked.stdout[-2000:], checked.stderr[-2000:])


def test_the_options_set_the_batch_the_seed_and_the_size(torch7_fixtures, tmp_path):
    th = _th()
    model = torch7_fixtures / "torch7" / "models" / "resnet20_cifar_shortcutA.t7"
    runs = {}
    for name, env in {"a": {"DUMP_BATCH": "3", "DUMP_SEED": "7"}, "b": {"DUMP_BATCH": "3", "DUMP_SEED": "7"},
                      "c": {"DUMP_BATCH": "3", "DUMP_SEED": "8", "DUMP_INPUT_SIZE": "3,40,40"}}.items():
        out = tmp_path / f"{name}.ref.t7"
        done = _dump(th, model, out, env)
        assert done.returncode == 0, done.stderr[-2000:]
        runs[name] = t7convert.read(out)["input"]
    assert runs["a"].shape == (3, 3, 32, 32) and (runs["a"] == runs["b"]).all()
    assert runs["c"].shape == (3, 3, 40, 40)
    bad = _dump(th, model, tmp_path / "bad.ref.t7", {"DUMP_INPUT_SIZE": "3,x,32"})
    assert bad.returncode != 0 and "DUMP_INPUT_SIZE" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_public_files_with_cuda_tensors_and_foreign_bytecode_load(torch7_fixtures, tmp_path):
    """Files from ../shared/wild: CudaTensor weights, and a Lua function dumped by another LuaJIT."""
    th = _th()
    wild = torch7_fixtures.parent / "wild"
    if not wild.is_dir():
        pytest.skip(f"no wild files next to the fixtures ({wild})")
    for name, said in [("henlisp__DeepLearning_HW1__model.t7", "CUDA tensors"),
                       ("thesidjway__Bumper-detection-cnn__results__model.net", "CUDA tensors"),
                       ("lucianionita__distracted-drivers-torch__logs__model.net", "replaced by placeholders")]:
        out = tmp_path / (name + ".ref.t7")
        done = _dump(th, wild / name, out)
        assert done.returncode == 0 and said in done.stdout, (name, done.stdout, done.stderr[-2000:])
        assert "Warning: Failed to load function" not in done.stderr
        checked = _parity(wild / name, out)
        assert checked.returncode == 0, (name, checked.stdout[-2000:], checked.stderr[-2000:])
