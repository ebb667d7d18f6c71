"""Recurrent layers and the index/table layers of language models: the reference against hand formulas,
bad fields refused naming class, field and path, and the shared catalog cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch7_models as tm
from click.testing import CliRunner
from layer_cases.nngraph import fast_lstm

import t7convert
from t7convert import api
from t7convert.cli import cli
from t7convert.interpreter import run

M = tm.module


def _sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_torch_rnn_lstm_reads_its_gate_columns_as_i_f_o_g():
    """D = H = 1: weight rows (x, h), columns (i, f, o, g); two steps from zero states."""
    w = np.array([[0.5, -0.3, 0.8, 0.2], [0.1, 0.4, -0.6, 0.9]], np.float32)
    b = np.array([0.05, 1.0, -0.1, 0.3], np.float32)
    m = M("nn.LSTM", input_dim=1, hidden_dim=1, weight=w, bias=b)
    xs = [0.7, -1.2]
    h = c = 0.0
    want = []
    for x in xs:
        a = [float(b[k]) + x * float(w[0, k]) + h * float(w[1, k]) for k in range(4)]
        i, f, o, g = _sig(a[0]), _sig(a[1]), _sig(a[2]), math.tanh(a[3])
        c = f * c + i * g
        h = o * math.tanh(c)
        want.append(h)
    got = run(m, np.array(xs).reshape(1, 2, 1)).output
    np.testing.assert_allclose(got.reshape(-1), want, rtol=1e-6)


def test_fast_lstm_reference_runs_its_recurrent_module_over_the_steps():
    """Sequencer(Recursor(FastLSTM)): each step's output feeds the next; the second step differs from a
    fresh first step on the same input."""
    cell = fast_lstm(3, 2)
    seq = M("nn.Sequencer", modules=[M("nn.Recursor", modules=[cell])])
    x = np.random.default_rng(3).standard_normal((1, 3))
    out = run(seq, [x, x]).output
    assert len(out) == 2 and out[0].shape == (1, 2)
    assert not np.allclose(out[0], out[1])
    np.testing.assert_allclose(run(seq, [x]).output[0], out[0])  # forget() between forwards


@pytest.mark.parametrize("model, field", [
    (lambda: M("nn.LSTM", input_dim=3, hidden_dim=2, weight=tm.f32(5, 6), bias=tm.f32(8)), "weight"),
    (lambda: M("nn.VanillaRNN", input_dim=-3, hidden_dim=2, weight=tm.f32(5, 2), bias=tm.f32(2)), "input_dim"),
    (lambda: M("nn.LookupTable", weight=tm.f32(10)), "weight"),
    (lambda: M("nn.FastLSTM", **{**fast_lstm(3, 2).fields, "i2g": tm.linear(3, 5)}), "weight"),
])
def test_bad_fields_are_refused_naming_class_field_and_path(tmp_path, model, field):
    m = model()
    src = tm.save(tmp_path, "m", tm.sequential(tm.module("nn.Identity"), m))
    out = tmp_path / "m.pth"
    result = CliRunner().invoke(cli, [str(src), "-o", str(out), "--input-size", "4"])
    assert result.exit_code == 2, result.output
    assert m.class_name in result.output and field in result.output and "modules[2]" in result.output
    assert not out.exists()


@pytest.mark.parametrize("case", ["gmodule", "lookuptable", "splittable", "cmultable"])
def test_catalog_cases_reproduce_torch7(torch7_fixtures, tmp_path, case):
    folder = torch7_fixtures / "torch7" / "catalog"
    report = api.convert(str(folder / f"{case}.t7"), str(tmp_path / "m.pth"))
    assert report.verification.ok, report.verification.summary()
    ref = t7convert.read(folder / f"{case}.ref.t7")
    module = t7convert.load(str(tmp_path / "m.pth"))

    def tens(v):
        return [tens(t) for t in v] if isinstance(v, list) else torch.from_numpy(np.asarray(v, np.float32))

    with torch.no_grad():
        got = module(tens(ref["input"]))
    want = ref["output"]
    for a, b in zip(got if isinstance(got, list) else [got], want if isinstance(want, list) else [want], strict=True):
        np.testing.assert_allclose(a.numpy(), b, rtol=0, atol=1e-5 * max(float(np.abs(b).max()), 1e-12))
