"""What the catalogue's family tests check alike: a real-Torch7 catalog file reproduced by the converted
model and by the reference execution, and a file whose fields contradict each other refused in one line
by the API and by the command (exit 2, nothing written)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from click.testing import CliRunner

import t7convert
from t7convert import api
from t7convert.cli import cli
from t7convert.interpreter import run as reference_run


def with_fields(m, **fields):
    """A copy of module ``m`` with some fields replaced (a file that contradicts itself)."""
    return tm.module(m.class_name, **{**m.fields, **fields})


def assert_catalog_file_reproduces_torch7(torch7_fixtures, tmp_path, name: str) -> None:
    folder = torch7_fixtures / "torch7" / "catalog"
    ref = t7convert.read(folder / f"{name}.ref.t7")
    x, want = np.asarray(ref["input"]), np.asarray(ref["output"], np.float64)
    out = tmp_path / f"{name}.pth"
    api.convert(str(folder / f"{name}.t7"), str(out), input_shape=x.shape[1:], batch=x.shape[0])
    with torch.no_grad():
        got = t7convert.load(str(out))(torch.from_numpy(x)).numpy()
    scale = np.abs(want).max()
    assert got.shape == want.shape
    assert np.abs(got - want).max() / scale <= 1e-5
    reference = reference_run(t7convert.read(folder / f"{name}.t7"), x.astype(np.float64)).output
    assert np.abs(reference - want).max() / scale <= 1e-5


def assert_refused_naming(tmp_path, module, cls: str, field: str, input_shape: tuple[int, ...]) -> None:
    src = tm.save(tmp_path, "bad", tm.sequential(module))
    with pytest.raises(t7convert.T7ConvertError) as e:
        api.convert(str(src), str(tmp_path / "bad.pth"), input_shape=input_shape)
    assert cls in str(e.value) and field in str(e.value) and "modules[1]" in str(e.value)
    result = CliRunner().invoke(cli, ["convert", str(src), "-o", str(tmp_path / "cli.pth")])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "cli.pth").exists() and not (tmp_path / "bad.pth").exists()


def rel(a, b) -> float:
    """Largest |a - b| over the largest |b| (at least 1e-12), on the finite values; the non-finite ones
    must be the same (NaN where NaN, the same infinity)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    finite = np.isfinite(b)
    odd_a, odd_b = a[~finite], b[~finite]
    assert (np.isfinite(a) == finite).all() and ((odd_a == odd_b) | (np.isnan(odd_a) & np.isnan(odd_b))).all()
    if not finite.any():
        return 0.0
    return float(np.abs(a[finite] - b[finite]).max() / max(np.abs(b[finite]).max(), 1e-12))


def convert_and_run(tmp_path, model, x: np.ndarray, tol: float = 1e-5):
    """Convert with verification, then (converted output, reference output) on ``x``, within ``tol``."""
    src = tm.save(tmp_path, "m", model)
    report = api.convert(str(src), str(tmp_path / "m.pth"), input_shape=x.shape[1:], batch=x.shape[0], force=True)
    assert report.verification.ok, report.verification.summary()
    with torch.no_grad():
        got = t7convert.load(str(tmp_path / "m.pth"))(torch.from_numpy(x)).numpy()
    want = reference_run(t7convert.read(src), x).output
    assert rel(got, want) <= tol
    return got, want
