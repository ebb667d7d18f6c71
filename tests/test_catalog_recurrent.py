"""Recurrent layers and the index/table layers of language models: the reference against hand formulas,
bad fields refused naming class, field and path, and the shared catalog cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch7_models as tm
from click.testing import CliRunner
from layer_cases.rnnlib import bisequencer, fast_lstm, fast_lstm_mask_zero, seq_brnn, seq_gru, seq_lstm, sequencer

import t7convert
from t7convert import api
from t7convert.cli import cli
from t7convert.conversion.model import convert_file
from t7convert.interpreter import run
from t7convert.pytorch.build import module_of
from t7convert.torch7.format.values import T7List

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


# --- Element-Research rnn: MaskZero, FastLSTM:maskZero(), LookupTableMaskZero -----------------------
def _converted_and_reference(tmp_path, model, x):
    src = tm.save(tmp_path, "m", model)
    want = run(t7convert.read(src), x).output
    module = module_of(convert_file(str(src)))
    tensors = [torch.from_numpy(np.asarray(v, np.float32)) for v in x] if isinstance(x, list) \
        else torch.from_numpy(np.asarray(x, np.float32))
    with torch.no_grad():
        got = module(tensors)
    return got, want


def test_mask_zero_zeroes_the_output_rows_of_all_zero_input_rows(tmp_path):
    """MaskZero.lua: rows of the first input tensor whose 2-norm is 0 (nInputDim + 1 dims: one per sample)
    are zeroed in every output tensor; nInputDim dims: the whole output goes when the input is all zero."""
    lin = tm.linear(4, 3)
    model = M("nn.MaskZero", modules=T7List([lin]), nInputDim=1)
    x = np.random.default_rng(8).standard_normal((3, 4))
    x[1] = 0
    want = x @ lin.fields["weight"].astype(np.float64).T + lin.fields["bias"]
    want[1] = 0
    got, ref = _converted_and_reference(tmp_path, model, x)
    np.testing.assert_allclose(ref, want, rtol=1e-12)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-6)
    got1, ref1 = _converted_and_reference(tmp_path, model, np.zeros(4))
    assert (ref1 == 0).all() and (got1.numpy() == 0).all()
    table = M("nn.MaskZero", modules=T7List([M("nn.ConcatTable", modules=[tm.linear(4, 2), tm.linear(4, 3)])]),
              nInputDim=1)
    got2, ref2 = _converted_and_reference(tmp_path, table, x)
    assert [r.shape for r in ref2] == [(3, 2), (3, 3)] and all((r[1] == 0).all() and (r[0] != 0).all() for r in ref2)
    for g, r in zip(got2, ref2):
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-5, atol=1e-6)


def test_fast_lstm_mask_zero_restarts_a_sample_from_zero_state_after_a_zero_step(tmp_path):
    """FastLSTM:maskZero(1) wraps its recurrentModule in MaskZero: at a step where a sample's input row is
    all zero its output and cell are zeroed, so its next step starts from zero state, as at the first."""
    d, h = 3, 4
    lstm = fast_lstm_mask_zero(d, h)
    wi, bi = (lstm.fields["i2g"].fields[f].astype(np.float64) for f in ("weight", "bias"))
    wh = lstm.fields["o2g"].fields["weight"].astype(np.float64)
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal((2, d)) for _ in range(3)]
    xs[1][0] = 0

    def step(x, hp, cp):  # FastLSTM's gates in its order: in, transform, forget, out
        z = x @ wi.T + bi + hp @ wh.T
        i, g, f, o = (z[:, k * h:(k + 1) * h] for k in range(4))
        sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        c = sig(f) * cp + sig(i) * np.tanh(g)
        return sig(o) * np.tanh(c), c

    hp = cp = np.zeros((2, h))
    want = []
    for x in xs:
        hp, cp = step(x, hp, cp)
        keep = (np.abs(x).sum(1) != 0)[:, None]
        hp, cp = hp * keep, cp * keep
        want.append(hp)
    got, ref = _converted_and_reference(tmp_path, sequencer(lstm), xs)
    for w, r, g in zip(want, ref, got):
        np.testing.assert_allclose(r, w, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-5, atol=1e-6)
    assert (ref[1][0] == 0).all()
    fresh = step(xs[2][:1], np.zeros((1, h)), np.zeros((1, h)))[0]
    np.testing.assert_allclose(ref[2][:1], fresh, rtol=1e-10)


def test_lookup_table_mask_zero_gives_zeros_for_index_0_and_row_i_plus_1_for_i(tmp_path):
    """LookupTableMaskZero.lua: ``weight[1]:zero()`` then LookupTable on ``input + 1``."""
    weight = tm.f32(5, 3)
    model = M("nn.LookupTableMaskZero", 4, weight=weight, paddingValue=0, shouldScaleGradByFreq=False)
    idx = np.array([[0, 1, 4], [2, 0, 3]], dtype=np.float32)
    want = np.where((idx == 0)[..., None], 0.0, weight.astype(np.float64)[idx.astype(int)])
    got, ref = _converted_and_reference(tmp_path, model, idx)
    np.testing.assert_allclose(ref, want, rtol=1e-12)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6)


@pytest.mark.parametrize("batch_first", [False, True])
def test_seq_lstm_reads_gates_i_f_o_g_and_mask_zero_restarts_a_sample(tmp_path, batch_first):
    """SeqLSTM.lua: ``gates = bias + x_t Wx + h Wh`` with ``Wx = weight[1..D]``, ``Wh = weight[D+1..]``; the
    columns are i, f, o (sigmoid) and g (tanh); with maskzero a sample whose x_t is all zero gets h = c = 0."""
    d, h, t_len, n = 3, 4, 4, 2
    model = seq_lstm(d, h, batch_first=batch_first, mask_zero=True)
    w, b = model.fields["weight"].astype(np.float64), model.fields["bias"].astype(np.float64)
    rng = np.random.default_rng(10)
    seq = rng.standard_normal((t_len, n, d))
    seq[1, 0] = 0
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    hp, cp, want = np.zeros((n, h)), np.zeros((n, h)), []
    for t in range(t_len):
        a = b + seq[t] @ w[:d] + hp @ w[d:]
        i, f, o, g = sig(a[:, :h]), sig(a[:, h:2 * h]), sig(a[:, 2 * h:3 * h]), np.tanh(a[:, 3 * h:])
        cp = f * cp + i * g
        hp = o * np.tanh(cp)
        keep = (np.abs(seq[t]).sum(1) != 0)[:, None]
        hp, cp = hp * keep, cp * keep
        want.append(hp)
    want = np.stack(want)
    x = np.swapaxes(seq, 0, 1) if batch_first else seq
    want = np.swapaxes(want, 0, 1) if batch_first else want
    got, ref = _converted_and_reference(tmp_path, model, x)
    np.testing.assert_allclose(ref, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_seq_gru_resets_h_before_its_product_and_mask_zero_zeroes_a_step(tmp_path):
    """SeqGRU.lua: r, u = sigmoid(b + x Wx + h Wh) on the first 2H columns; hc = tanh(b_c + x Wx_c +
    (r * h) Wh_c); h = (1 - u) * hc + u * h; maskzero zeroes h for an all-zero x_t row."""
    d, h, t_len, n = 2, 3, 4, 2
    model = seq_gru(d, h, mask_zero=True)
    w, b = model.fields["weight"].astype(np.float64), model.fields["bias"].astype(np.float64)
    seq = np.random.default_rng(12).standard_normal((t_len, n, d))
    seq[2, 1] = 0
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    hp, want = np.zeros((n, h)), []
    for t in range(t_len):
        r = sig(b[:h] + seq[t] @ w[:d, :h] + hp @ w[d:, :h])
        u = sig(b[h:2 * h] + seq[t] @ w[:d, h:2 * h] + hp @ w[d:, h:2 * h])
        hc = np.tanh(b[2 * h:] + seq[t] @ w[:d, 2 * h:] + (r * hp) @ w[d:, 2 * h:])
        hp = ((1 - u) * hc + u * hp) * (np.abs(seq[t]).sum(1) != 0)[:, None]
        want.append(hp)
    got, ref = _converted_and_reference(tmp_path, model, seq)
    np.testing.assert_allclose(ref, np.stack(want), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-6)
    assert (ref[2, 1] == 0).all()


def _fast_lstm_run(lstm, xs):
    """FastLSTM over the steps from zero states (gates in, transform, forget, out)."""
    wi, bi = (lstm.fields["i2g"].fields[f].astype(np.float64) for f in ("weight", "bias"))
    wh = lstm.fields["o2g"].fields["weight"].astype(np.float64)
    h = wh.shape[1]
    hp = cp = np.zeros((xs[0].shape[0], h))
    out = []
    for x in xs:
        z = x @ wi.T + bi + hp @ wh.T
        i, g, f, o = (z[:, k * h:(k + 1) * h] for k in range(4))
        sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        cp = sig(f) * cp + sig(i) * np.tanh(g)
        hp = sig(o) * np.tanh(cp)
        out.append(hp)
    return out


def test_bisequencer_joins_the_forward_run_and_the_reversed_backward_run_per_step(tmp_path):
    """BiSequencer.lua: step t is JoinTable(1, 1){fwd(x)[t], reverse(bwd(reverse(x)))[t]}: N x 2H."""
    fwd, bwd = fast_lstm(3, 2), fast_lstm(3, 2)
    xs = [np.random.default_rng(20 + t).standard_normal((2, 3)) for t in range(3)]
    f_out = _fast_lstm_run(fwd, xs)
    b_out = _fast_lstm_run(bwd, xs[::-1])[::-1]
    got, ref = _converted_and_reference(tmp_path, bisequencer(fwd, bwd), xs)
    for t in range(3):
        np.testing.assert_allclose(ref[t], np.concatenate([f_out[t], b_out[t]], 1), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got[t].numpy(), ref[t], rtol=1e-5, atol=1e-6)


def test_reinforce_modules_give_their_map_estimate_in_evaluate_mode_and_refuse_to_sample(tmp_path):
    """dpnn's Reinforce*.lua with ``train == false``: ``output:copy(mean)`` / ``output:copy(input)``; with
    ``stochastic`` set they sample even then, so the conversion is refused."""
    x = np.random.default_rng(30).standard_normal((2, 3))
    mean_std = [x, np.abs(x) + 0.1]
    got, ref = _converted_and_reference(tmp_path, M("nn.ReinforceNormal", stdev=0.5), mean_std)
    np.testing.assert_array_equal(ref, x)
    np.testing.assert_allclose(got.numpy(), x, rtol=1e-6)
    got, ref = _converted_and_reference(tmp_path, M("nn.ReinforceBernoulli"), np.abs(x) / 4)
    np.testing.assert_array_equal(ref, np.abs(x) / 4)
    src = tm.save(tmp_path, "s", tm.sequential(tm.linear(3, 3), M("nn.ReinforceCategorical", stochastic=True)))
    with pytest.raises(t7convert.T7ConvertError, match="ReinforceCategorical.*stochastic"):
        api.convert(str(src), str(tmp_path / "s.pth"), input_shape=(3,))


def _seq_lstm_np(model, seq):
    """SeqLSTM.lua's loop (T x N x D), gates i, f, o, g, from zero states."""
    d = model.fields["inputsize"]
    w, b = model.fields["weight"].astype(np.float64), model.fields["bias"].astype(np.float64)
    h = w.shape[1] // 4
    hp, cp, out = np.zeros((seq.shape[1], h)), np.zeros((seq.shape[1], h)), []
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for t in range(seq.shape[0]):
        a = b + seq[t] @ w[:d] + hp @ w[d:]
        cp = sig(a[:, h:2 * h]) * cp + sig(a[:, :h]) * np.tanh(a[:, 3 * h:])
        hp = sig(a[:, 2 * h:3 * h]) * np.tanh(cp)
        out.append(hp)
    return np.stack(out)


@pytest.mark.parametrize("batch_first", [False, True])
def test_seq_brnn_adds_the_forward_run_and_the_time_reversed_backward_run(tmp_path, batch_first):
    """SeqBRNN.lua: CAddTable{fwd(x), reverse(bwd(reverse(x)))} over time (dim 1 of T x N x D), with
    Transposes around it when batchFirst."""
    model = seq_brnn(2, 3, batch_first=batch_first)
    fwd = model.fields["forwardModule"]
    bwd = model.fields["backwardModule"]
    seq = np.random.default_rng(31).standard_normal((4, 2, 2))
    want = _seq_lstm_np(fwd, seq) + _seq_lstm_np(bwd, seq[::-1])[::-1]
    x = np.swapaxes(seq, 0, 1) if batch_first else seq
    want = np.swapaxes(want, 0, 1) if batch_first else want
    got, ref = _converted_and_reference(tmp_path, model, x)
    np.testing.assert_allclose(ref, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, fields, why", [
    (lambda: seq_lstm(3, 2), {"userPrevOutput": "state"}, "user-set initial states"),
    (lambda: seq_lstm(3, 2), {"_remember": "both", "cell": "state"}, "remembers its states"),
    (lambda: seq_gru(3, 2), {"userPrevOutput": "state"}, "user-set initial state"),
    (lambda: seq_gru(3, 2), {"_remember": "eval", "_output": "state"}, "remembers its states"),
], ids=["seqlstm-user-state", "seqlstm-remembered-cell", "seqgru-user-state", "seqgru-remembered-output"])
def test_a_seq_rnn_holding_states_torch7_would_start_from_is_refused(tmp_path, make, fields, why):
    """A converted SeqLSTM/SeqGRU starts from zero states, as a fresh copy does: a file holding states Torch7
    would start from instead (set by the user, or kept by remember) is refused, not converted to other numbers."""
    m = make()
    for name, value in fields.items():
        m.fields[name] = tm.f32(1, 2) if value == "state" else value
    src = tm.save(tmp_path, "kept", m)
    with pytest.raises(t7convert.T7ConvertError, match=why):
        api.convert(str(src), None, verify=False)
