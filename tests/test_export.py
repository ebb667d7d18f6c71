"""Outputs that stand without t7convert (``-o model.onnx``, ``-o model.pt2``, ``-o DIR --format source``): each
is run on the verification input before it is written, carries its provenance, and runs where t7convert
cannot be imported; an unknown output suffix is refused; the .pth path imports none of it."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import charrnn_models as cr
import numpy as np
import pytest
import torch
import torch7_models as tm

import t7convert
from t7convert.api import convert
from t7convert.common.errors import T7ConvertError

HAS_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="onnx, onnxscript or onnxruntime is not installed "
                                "(pip install 't7convert[onnx]'): the .onnx tests did not run")


def cnn(tmp_path: Path) -> Path:
    """A small CNN with Torch7-only semantics: ceil-mode pooling whose last window starts in the padding
    (Torch7's Pool2d rule), nn.View's batch inference."""
    return tm.save(tmp_path, "cnn", tm.sequential(
        tm.conv(3, 4, 3, 3, 1, 1, 1, 1, cls="nn.SpatialConvolution"), tm.batchnorm(4), tm.relu(),
        tm.maxpool(3, 3, 2, 2, 1, 1, ceil=True), tm.view(4 * 5 * 5, num_input_dims=3), tm.linear(4 * 5 * 5, 7)))


def charrnn(tmp_path: Path) -> Path:
    """char-rnn's one-step gModule: a table input {indices, h}, a table output {h, log-probabilities}."""
    return tm.save(tmp_path, "cv", cr.checkpoint())


def reference(src: Path, x):
    with torch.no_grad():
        return t7convert.load(str(src))(x)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "t7convert", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)


def test_an_unknown_output_suffix_is_refused_in_one_line(tmp_path):
    src = cnn(tmp_path)
    done = cli(str(src), "-o", str(tmp_path / "model.xyz"))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "'.xyz'" in done.stderr, done.stderr
    assert not (tmp_path / "model.xyz").exists()


def test_pt2_runs_through_torch_export_load_with_a_dynamic_batch_and_its_provenance(tmp_path):
    src, out = cnn(tmp_path), tmp_path / "cnn.pt2"
    report = convert(str(src), str(out))
    assert report.export_error is not None and report.export_error <= 1e-4
    extra = {"t7convert_provenance.json": ""}
    program = torch.export.load(str(out), extra_files=extra)
    record = json.loads(extra["t7convert_provenance.json"])
    assert record["source"] == "cnn.t7" and record["source_sha256"] == sha256(src)
    assert record["t7convert"] == t7convert.__version__ and record["verified_on"].startswith("3x8x8 random input")
    assert float(record["max_rel_error"]) <= 1e-4 and record["batch"] == "dynamic"
    x = torch.from_numpy(np.random.default_rng(5).standard_normal((3, 3, 8, 8), dtype=np.float32))
    got = program.module()(x)
    want = reference(src, x)
    assert got.shape == want.shape == (3, 7)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5)


def test_table_inputs_are_positional_arguments_of_the_pt2_program_in_lua_order(tmp_path):
    src, out = charrnn(tmp_path), tmp_path / "cv.pt2"
    convert(str(src), str(out))
    program = torch.export.load(str(out)).module()
    g = torch.Generator().manual_seed(3)
    idx = torch.randint(1, 10, (2,), generator=g).float()
    h = torch.randn(2, 6, generator=g)
    got, want = program(idx, h), reference(src, [idx, h])
    assert len(got) == len(want) == 2
    for a, b in zip(got, want):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


FRESH = r'''
import importlib.util, sys
class NoT7convert:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "t7convert":
            raise ModuleNotFoundError("no t7convert here", name=name)
sys.meta_path.insert(0, NoT7convert())
import torch
spec = importlib.util.spec_from_file_location("standalone_model", sys.argv[1] + "/model.py")
mod = importlib.util.module_from_spec(spec)
sys.modules["standalone_model"] = mod
spec.loader.exec_module(mod)
model = mod.load()
assert not any(m.training for m in model.modules())
x = torch.load(sys.argv[2], weights_only=True)
with torch.no_grad():
    y = model(x)
torch.save(list(y) if isinstance(y, (list, tuple)) else [y], sys.argv[3])
print(mod.PROVENANCE)
'''


def run_fresh(folder: Path, x, tmp_path: Path) -> tuple[list[torch.Tensor], dict]:
    torch.save(x, tmp_path / "x.pt")
    done = subprocess.run([sys.executable, "-I", "-B", "-c", FRESH, str(folder), str(tmp_path / "x.pt"),
                           str(tmp_path / "y.pt")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return torch.load(tmp_path / "y.pt", weights_only=True), json.loads(done.stdout.strip().splitlines()[-1])


def test_the_source_folder_runs_in_a_fresh_interpreter_without_t7convert(tmp_path):
    src, out = cnn(tmp_path), tmp_path / "cnn_src"
    convert(str(src), str(out), fmt="source")
    assert sorted(os.listdir(out)) == ["model.py", "model.safetensors"]
    text = (out / "model.py").read_text()
    assert "t7convert." not in text.replace("t7convert.convert", "") and "import t7convert" not in text
    assert "lambda" not in text and str(tmp_path) not in text and "pickle" not in text
    assert "nn.Conv2d(" in text and "nn.Linear(" in text and "class Pool2d(nn.Module)" in text
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((2, 3, 8, 8), dtype=np.float32))
    (got,), record = run_fresh(out, x, tmp_path)
    assert torch.allclose(got, reference(src, x), rtol=1e-5, atol=1e-6)
    assert record["source_sha256"] == sha256(src) and float(record["max_rel_error"]) <= 1e-4
    from safetensors import safe_open
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["t7convert_provenance"])["source"] == "cnn.t7"


def test_a_table_model_as_source_takes_its_table_as_a_list(tmp_path):
    src, out = charrnn(tmp_path), tmp_path / "cv_src"
    convert(str(src), str(out), fmt="source")
    g = torch.Generator().manual_seed(11)
    x = [torch.randint(1, 10, (3,), generator=g).float(), torch.randn(3, 6, generator=g)]
    got, _ = run_fresh(out, x, tmp_path)
    want = reference(src, x)
    assert len(got) == 2 and all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(got, want))


def test_an_existing_source_folder_needs_force(tmp_path):
    src, out = cnn(tmp_path), tmp_path / "cnn_src"
    out.mkdir()
    with pytest.raises(T7ConvertError, match="exists"):
        convert(str(src), str(out), fmt="source")
    convert(str(src), str(out), fmt="source", force=True)
    assert (out / "model.py").is_file()


@needs_onnx
def test_onnx_runs_in_onnxruntime_with_named_table_inputs_and_provenance(tmp_path):
    import onnx
    import onnxruntime as ort
    src, out = charrnn(tmp_path), tmp_path / "cv.onnx"
    report = convert(str(src), str(out))
    assert report.export_error <= 1e-4
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["source_sha256"] == sha256(src) and props["t7convert"] == t7convert.__version__
    assert json.loads(props["t7convert_provenance"])["source"] == "cv.t7"
    s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in s.get_inputs()] == ["input1", "input2"]
    g = torch.Generator().manual_seed(2)
    x = [torch.randint(1, 10, (4,), generator=g).float(), torch.randn(4, 6, generator=g)]
    got = s.run(None, {"input1": x[0].numpy(), "input2": x[1].numpy()})
    want = reference(src, x)
    assert len(got) == 2 and all(np.allclose(a, b.numpy(), rtol=1e-4, atol=1e-6) for a, b in zip(got, want))


@needs_onnx
def test_onnx_of_a_cnn_has_a_dynamic_batch(tmp_path):
    import onnxruntime as ort
    src, out = cnn(tmp_path), tmp_path / "cnn.onnx"
    convert(str(src), str(out))
    s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(9).standard_normal((5, 3, 8, 8), dtype=np.float32)
    (got,) = s.run(None, {s.get_inputs()[0].name: x})
    assert np.allclose(got, reference(src, torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)


def test_onnx_without_the_extra_is_refused_naming_it(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    src = cnn(tmp_path)
    with pytest.raises(T7ConvertError, match=r"onnxruntime.*pip install 't7convert\[onnx\]'"):
        convert(str(src), str(tmp_path / "cnn.onnx"))
    assert not (tmp_path / "cnn.onnx").exists()


def test_pth_conversion_imports_nothing_of_the_exporters(tmp_path):
    src = cnn(tmp_path)
    code = ("import sys, t7convert.api as a; a.convert(sys.argv[1], sys.argv[2]); "
            "print(sorted(m for m in sys.modules if m.startswith(('t7convert.export', 'onnx'))))")
    done = subprocess.run([sys.executable, "-c", code, str(src), str(tmp_path / "cnn.pth")], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_export_formats_need_the_verification(tmp_path):
    with pytest.raises(T7ConvertError, match="no-verify"):
        convert(str(cnn(tmp_path)), str(tmp_path / "cnn.pt2"), verify=False)


@pytest.mark.parametrize("name", ["cnn.pth", "cnn.safetensors"])
def test_pth_and_safetensors_carry_their_provenance_and_inspect_shows_it(tmp_path, name):
    src, out = cnn(tmp_path), tmp_path / name
    convert(str(src), str(out))
    done = cli("inspect", str(out), "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)["provenance"]
    assert record["source"] == "cnn.t7" and record["source_sha256"] == sha256(src)
    assert record["t7convert"] == t7convert.__version__ and float(record["max_rel_error"]) <= 1e-5
    assert record["verified_on"] == "3x8x8 random input (seed 0)"
    assert t7convert.load(str(out))(torch.zeros(1, 3, 8, 8)).shape == (1, 7)  # still loads as before


def test_a_canonical_pth_stays_a_bare_torchvision_state_dict_with_its_provenance_beside(tmp_path):
    from t7convert.export.provenance import read_provenance
    from t7convert.torch7.synth import synthesize_file
    src, out = tmp_path / "tiny.t7", tmp_path / "tiny.pth"
    synthesize_file("resnext_tiny", str(src))
    report = convert(str(src), str(out))
    assert report.converted.kind == "canonical"
    sd = torch.load(out, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in sd.values()) and "fc.weight" in sd
    assert read_provenance(str(out))["source_sha256"] == sha256(src)
