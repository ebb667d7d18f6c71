"""Element-Research rnn's recurrent modules that keep their step in ``recurrentModule`` (``nn.LSTM``,
``nn.GRU``, ``nn.Recurrence``): the reference against the Lua equations worked out here with numpy, the
converted model against the reference, and bad fields refused naming class, field and path."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from click.testing import CliRunner
from layer_cases.recurrent import torch_rnn_bn_language_model
from layer_cases.rnnlib import (
    recurrence,
    recurrent_attention,
    repeater,
    rnn_gru,
    rnn_lstm,
    rnn_lstm_mask_zero,
    rnn_recurrent,
    seq_lstmp,
    sequencer,
    simple_recurrence,
    spatial_glimpse,
)

import t7convert
from t7convert.cli import cli
from t7convert.conversion.model import convert_file
from t7convert.interpreter import run
from t7convert.pytorch.build import module_of
from t7convert.torch7.format.values import T7List

M = tm.module


def _sig(v):
    return 1 / (1 + np.exp(-v))


def _both(tmp_path, model, x):
    """(converted model's output, reference output) on ``x`` (a list of steps or one tensor)."""
    src = tm.save(tmp_path, "m", model)
    want = run(t7convert.read(src), x).output
    module = module_of(convert_file(str(src)))
    t = [torch.from_numpy(np.asarray(v, np.float32)) for v in x] if isinstance(x, list) \
        else torch.from_numpy(np.asarray(x, np.float32))
    with torch.no_grad():
        got = module(t)
    return got, want


def _lin(seq_or_lin):
    """(W, b) of a Linear / LinearNoBias, or of the one inside rnn's Sequential(Dropout, Linear)."""
    m = seq_or_lin.fields["modules"][-1] if seq_or_lin.class_name == "nn.Sequential" else seq_or_lin
    w = m.fields["weight"].astype(np.float64)
    b = m.fields.get("bias")
    return w, (np.zeros(w.shape[0]) if b is None else b.astype(np.float64))


def _gate(gate):
    """LSTM:buildGate's Linear (W, b), LinearNoBias U and CMul peephole p (or None)."""
    para = next(k for k in gate.fields["modules"] if k.class_name == "nn.ParallelTable").fields["modules"]
    (w, b), (u, _) = _lin(para[0]), _lin(para[1])
    return w, b, u, (para[2].fields["weight"].astype(np.float64) if len(para) > 2 else None)


@pytest.mark.parametrize("cell2gate", [True, False])
def test_rnn_lstm_runs_the_lua_equations_with_its_peepholes_over_the_steps(tmp_path, cell2gate):
    """LSTM.lua: i = sig(Wi x + bi + Ui h + pi c), f likewise with c(t-1), g = tanh(Wg x + bg + Ug h),
    c = f c + i g, o = sig(Wo x + bo + Uo h + po c(t)), h = o tanh(c); zero h, c at the first step."""
    lstm = rnn_lstm(3, 4, cell2gate=cell2gate)
    ig, fg, og = (_gate(lstm.fields[k]) for k in ("inputGate", "forgetGate", "outputGate"))
    hid = lstm.fields["hiddenLayer"].fields["modules"][1].fields["modules"]
    (wg, bg), (ug, _) = _lin(hid[0]), _lin(hid[1])
    rng = np.random.default_rng(41)
    xs = [rng.standard_normal((2, 3)) for _ in range(3)]

    def gate(g, x, h, c):
        w, b, u, p = g
        return _sig(x @ w.T + b + h @ u.T + (c * p if p is not None else 0))

    h = c = np.zeros((2, 4))
    want = []
    for x in xs:
        i, f = gate(ig, x, h, c), gate(fg, x, h, c)
        c = f * c + i * np.tanh(x @ wg.T + bg + h @ ug.T)
        h = gate(og, x, h, c) * np.tanh(c)
        want.append(h)
    got, ref = _both(tmp_path, sequencer(lstm), xs)
    for w, r, g in zip(want, ref, got, strict=True):
        np.testing.assert_allclose(r, w, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-5, atol=1e-6)
    # one call of the module alone is a fresh copy's first step; a 1-D input gets a 1-D zero state
    got1, ref1 = _both(tmp_path, lstm, xs[0][0])
    np.testing.assert_allclose(ref1, want[0][0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got1.numpy(), ref1, rtol=1e-5, atol=1e-6)


def test_rnn_gru_reads_reset_then_update_gates_and_resets_h_before_its_product(tmp_path):
    """GRU.lua: [r, z] = sig(i2g(x) + o2g(h)) (rows 1..H: r, H+1..2H: z); hc = tanh(W x + b + U (r h));
    h = (1 - z) hc + z h (SAdd(-1, true) gives 1 - z)."""
    gru = rnn_gru(2, 3)
    wi, bi = _lin(gru.fields["i2g"])
    wo, _ = _lin(gru.fields["o2g"])
    hidden = gru.fields["recurrentModule"].fields["modules"][-1].fields["modules"][0].fields["modules"][0] \
        .fields["modules"][0].fields["modules"][0].fields["modules"][0]
    branches = hidden.fields["modules"]
    wx, bx = _lin(branches[0].fields["modules"][1])
    uh, _ = _lin(branches[1].fields["modules"][2])
    rng = np.random.default_rng(42)
    xs = [rng.standard_normal((2, 2)) for _ in range(4)]
    h = np.zeros((2, 3))
    want = []
    for x in xs:
        a = _sig(x @ wi.T + bi + h @ wo.T)
        r, z = a[:, :3], a[:, 3:]
        hc = np.tanh(x @ wx.T + bx + (r * h) @ uh.T)
        h = (1 - z) * hc + z * h
        want.append(h)
    got, ref = _both(tmp_path, sequencer(gru), xs)
    for w, r_, g in zip(want, ref, got, strict=True):
        np.testing.assert_allclose(r_, w, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g.numpy(), r_, rtol=1e-5, atol=1e-6)


def test_recurrence_feeds_its_output_back_from_a_zero_state_of_output_size(tmp_path):
    """Recurrence.lua: output(t) = step{x(t), output(t-1)}, output(0) zeros of outputSize with the batch."""
    rec = simple_recurrence(3, 2)
    para = rec.fields["recurrentModule"].fields["modules"][0].fields["modules"]
    (w, b), (u, c) = _lin(para[0]), _lin(para[1])
    xs = [np.random.default_rng(43).standard_normal((3, 3)) for _ in range(3)]
    h, want = np.zeros((3, 2)), []
    for x in xs:
        h = _sig(x @ w.T + b + h @ u.T + c)
        want.append(h)
    got, ref = _both(tmp_path, sequencer(rec), xs)
    for w_, r, g in zip(want, ref, got, strict=True):
        np.testing.assert_allclose(r, w_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-5, atol=1e-6)


def _refusal(tmp_path, model, size="3"):
    src = tm.save(tmp_path, "m", tm.sequential(M("nn.Identity"), model))
    out = tmp_path / "m.pth"
    result = CliRunner().invoke(cli, [str(src), "-o", str(out), "--input-size", size])
    assert result.exit_code == 2, result.output
    assert not out.exists()
    return result.output


def test_a_step_that_reads_the_buffer_torch7_overwrites_is_refused(tmp_path):
    """Recurrence(CAddTable): in evaluate mode output(t-1) IS CAddTable's output buffer, which it fills
    with x(t) before adding output(t-1): Torch7 computes 2 x(t), not x(t) + output(t-1). Refused."""
    out = _refusal(tmp_path, recurrence(M("nn.CAddTable"), 3))
    assert "nn.Recurrence" in out and "modules[2]" in out and "previous state" in out


@pytest.mark.parametrize("model, field", [
    (lambda: M("nn.GRU", **{**rnn_gru(3, 2).fields, "outputSize": -2}), "outputSize"),
    (lambda: M("nn.GRU", **{k: v for k, v in rnn_gru(3, 2).fields.items() if k != "recurrentModule"}),
     "recurrentModule"),
    (lambda: M("nn.LSTM", **{**rnn_lstm(3, 2).fields, "userPrevOutput": tm.f32(2)}), "userPrevOutput"),
    (lambda: M("nn.LSTM", **{k: v for k, v in rnn_lstm(3, 2).fields.items() if k != "recurrentModule"}),
     "recurrentModule"),
    (lambda: recurrence(simple_recurrence(3, 2).fields["recurrentModule"], T7List([T7List([2]), T7List([2])])),
     "outputSize"),
    (lambda: M("nn.Recurrence", **{**simple_recurrence(3, 2).fields, "nInputDim": -1}), "nInputDim"),
    (lambda: M("nn.Recurrence", **{**simple_recurrence(3, 2).fields, "outputSize": {"a": 2}}), "outputSize"),
])
def test_bad_rnn_fields_are_refused_naming_class_field_and_path(tmp_path, model, field):
    m = model()
    out = _refusal(tmp_path, m)
    assert m.class_name in out and field in out and "modules[2]" in out, out


@pytest.mark.parametrize("h, r, batch_first", [(5, 2, False), (2, 4, True)])
def test_seq_lstmp_projects_each_steps_hidden_state_with_weight_o(tmp_path, h, r, batch_first):
    """SeqLSTMP.lua: SeqLSTM's step on the projected h (weight (D + R) x 4H, gates i, f, o, g), then
    ``adapter``: h = (o tanh(c)) weightO, N x R, the output and the next step's h; maskzero zeroes h and
    c of a sample whose step input is all zero."""
    d, t_len, n = 3, 4, 2
    model = seq_lstmp(d, h, r, batch_first=batch_first, mask_zero=True)
    w, b = model.fields["weight"].astype(np.float64), model.fields["bias"].astype(np.float64)
    w_o = model.fields["weightO"].astype(np.float64)
    seq = np.random.default_rng(44).standard_normal((t_len, n, d))
    seq[1, 1] = 0
    hp, cp, want = np.zeros((n, r)), np.zeros((n, h)), []
    for t in range(t_len):
        a = b + seq[t] @ w[:d] + hp @ w[d:]
        cp = _sig(a[:, h:2 * h]) * cp + _sig(a[:, :h]) * np.tanh(a[:, 3 * h:])
        hp = (_sig(a[:, 2 * h:3 * h]) * np.tanh(cp)) @ w_o
        keep = (np.abs(seq[t]).sum(1) != 0)[:, None]
        hp, cp = hp * keep, cp * keep
        want.append(hp)
    want = np.stack(want)
    x = np.swapaxes(seq, 0, 1) if batch_first else seq
    want = np.swapaxes(want, 0, 1) if batch_first else want
    got, ref = _both(tmp_path, model, x)
    assert ref.shape == want.shape
    np.testing.assert_allclose(ref, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_seq_lstmp_with_a_wrong_weight_o_is_refused(tmp_path):
    out = _refusal(tmp_path, M("nn.SeqLSTMP", **{**seq_lstmp(3, 4, 2).fields, "weightO": tm.f32(2, 4)}), "4x3")
    assert "nn.SeqLSTMP" in out and "weightO" in out and "modules[2]" in out


def test_recurrent_starts_with_its_initial_module_then_feeds_back(tmp_path):
    """Recurrent.lua: step 1 is initialModule: sig(W x + b + start); step t > 1 is recurrentModule:
    sig(W x + b + U h(t-1) + c) (ParallelTable(input, feedback), CAddTable, transfer)."""
    rec = rnn_recurrent(3, 2)
    (w, b), (u, c) = _lin(rec.fields["inputModule"]), _lin(rec.fields["feedbackModule"])
    start = rec.fields["startModule"].fields["bias"].astype(np.float64)
    xs = [np.random.default_rng(45 + t).standard_normal((2, 3)) for t in range(3)]
    h = _sig(xs[0] @ w.T + b + start)
    want = [h]
    for x in xs[1:]:
        h = _sig(x @ w.T + b + h @ u.T + c)
        want.append(h)
    got, ref = _both(tmp_path, sequencer(rec), xs)
    for w_, r, g in zip(want, ref, got, strict=True):
        np.testing.assert_allclose(r, w_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-5, atol=1e-6)


def test_repeater_feeds_the_same_input_rho_times_from_a_forgotten_state(tmp_path):
    """Repeater.lua: module:forget(), then rho steps on the same input; a table of rho outputs."""
    rec = simple_recurrence(3, 2)
    para = rec.fields["recurrentModule"].fields["modules"][0].fields["modules"]
    (w, b), (u, c) = _lin(para[0]), _lin(para[1])
    x = np.random.default_rng(46).standard_normal((2, 3))
    h, want = np.zeros((2, 2)), []
    for _ in range(4):
        h = _sig(x @ w.T + b + h @ u.T + c)
        want.append(h)
    got, ref = _both(tmp_path, repeater(rec, rho=4), x)
    assert len(ref) == len(got) == 4
    for w_, r, g in zip(want, ref, got, strict=True):
        np.testing.assert_allclose(r, w_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-5, atol=1e-6)
    module = module_of(convert_file(str(tm.save(tmp_path, "r", repeater(rec, rho=4)))))
    with torch.no_grad():  # the same module's second forward starts afresh too (forget())
        first, second = module(torch.from_numpy(x.astype(np.float32))), module(torch.from_numpy(x.astype(np.float32)))
    for a, b_ in zip(first, second, strict=True):
        assert torch.equal(a, b_)


@pytest.mark.parametrize("model, field", [
    (lambda: M("nn.Repeater", **{**repeater(simple_recurrence(3, 2)).fields, "rho": 0}), "rho"),
    (lambda: M("nn.Recurrent", **{k: v for k, v in rnn_recurrent(3, 2).fields.items() if k != "initialModule"}),
     "initialModule"),
])
def test_bad_repeater_and_recurrent_fields_are_refused(tmp_path, model, field):
    m = model()
    out = _refusal(tmp_path, m)
    assert m.class_name in out and field in out and "modules[2]" in out, out


def test_spatial_glimpse_crops_zero_padded_glimpses_and_averages_the_larger_ones(tmp_path):
    """SpatialGlimpse.lua on a 1x4x4 image (0..15), size 2, depth 2, scale 2: depth 1 crops 2x2 at
    floor(clamp((loc + 1) / 2 * (4 - 2))); depth 2 crops 4x4 from the image padded by 1 at
    floor((loc + 1) / 2 * (6 - 4)) and averages 2x2 blocks."""
    image = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    padded = np.pad(image[0, 0], 1)
    cases = {(-1.0, -1.0): (0, 0, 0, 0), (1.0, 1.0): (2, 2, 2, 2), (0.0, 0.5): (1, 1, 1, 1)}
    for (ly, lx), (y1, x1, y2, x2) in cases.items():
        loc = np.array([[ly, lx]])
        big = padded[y2:y2 + 4, x2:x2 + 4]
        want = np.stack([image[0, 0, y1:y1 + 2, x1:x1 + 2], big.reshape(2, 2, 2, 2).mean(axis=(1, 3))])[None]
        got, ref = _both(tmp_path, spatial_glimpse(2, 2), [image, loc])
        np.testing.assert_allclose(ref, want, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6)
    # the corner case worked by hand: depth 2 at (-1, -1) is [[0, 0.75], [3, 7.5]]
    _, ref = _both(tmp_path, spatial_glimpse(2, 2), [image, np.array([[-1.0, -1.0]])])
    np.testing.assert_allclose(ref[0, 1], [[0, 0.75], [3, 7.5]])
    # an unbatched location gives an unbatched output (fromBatch)
    _, ref = _both(tmp_path, spatial_glimpse(2, 2), [image[0], np.array([1.0, 1.0])])
    np.testing.assert_allclose(ref[1], [[7.5, 4.5], [6.75, 3.75]])


def test_spatial_glimpse_with_a_scale_its_pooling_cannot_reduce_is_refused(tmp_path):
    out = _refusal(tmp_path, spatial_glimpse(3, 2, scale=1.5), "1x6x6")
    assert "nn.SpatialGlimpse" in out and "scale" in out and "modules[2]" in out


def _glimpse1(image, loc, size):
    """SpatialGlimpse(size, 1) from its Lua, one sample: pad floor((size - 1) / 2), crop at
    floor(clamp((loc + 1) / 2 * (padded - size)))."""
    p = (size - 1) // 2
    padded = np.pad(image, ((0, 0), (p, p), (p, p)))
    h, w = padded.shape[1] - size, padded.shape[2] - size
    y0 = int(np.floor(min(h, max(0, (loc[0] + 1) / 2 * h))))
    x0 = int(np.floor(min(w, max(0, (loc[1] + 1) / 2 * w))))
    return padded[:, y0:y0 + size, x0:x0 + size]


def test_recurrent_attention_steps_its_locator_and_keeps_torch7s_shared_output_buffers(tmp_path):
    """RecurrentAttention.lua: a(1) = locator(zeros), h(1) = initialModule{x, a(1)} = relu(glimpse + start);
    a(t) = locator(h(t-1)), h(t) = relu(glimpse{x, a(t)} + U h(t-1) + c). The output table holds the rnn's
    tensors themselves: step 1's own, then the recurrentModule's one buffer, so steps 2..3 read h(3)."""
    model = recurrent_attention(c=1, h=3, n_step=3, size=2)
    rnn, locator = model.fields["rnn"], model.fields["action"].fields["module"]
    loc_sensor, img_sensor = (k.fields["modules"] for k in
                              rnn.fields["inputModule"].fields["modules"][0].fields["modules"])
    (wl, bl), (wi, bi) = _lin(loc_sensor[1]), _lin(img_sensor[2])
    (u, c), start = _lin(rnn.fields["feedbackModule"]), rnn.fields["startModule"].fields["bias"].astype(np.float64)
    wa, ba = _lin(locator.fields["modules"][0])
    x = np.random.default_rng(47).standard_normal((2, 1, 6, 6))

    def glimpse(a):
        crops = np.stack([_glimpse1(x[i], a[i], 2).reshape(-1) for i in range(2)])
        return a @ wl.T + bl + crops @ wi.T + bi

    h = np.zeros((2, 3))
    steps = []
    for t in range(3):
        a = np.clip(h @ wa.T + ba, -1, 1)  # HardTanh, ReinforceNormal's mean (evaluate), HardTanh
        h = np.maximum(glimpse(a) + (start if t == 0 else h @ u.T + c), 0)
        steps.append(h)
    got, ref = _both(tmp_path, model, x)
    for w_, r, g in zip([steps[0], steps[2], steps[2]], ref, got, strict=True):
        np.testing.assert_allclose(r, w_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-5, atol=1e-6)


def test_recurrent_attention_around_another_rnn_is_refused(tmp_path):
    model = recurrent_attention()
    gru = rnn_gru(2, 3)
    model.fields["rnn"] = gru
    model.fields["modules"] = T7List([gru, model.fields["action"]])
    out = _refusal(tmp_path, model, "1x6x6")
    assert "nn.RecurrentAttention" in out and "rnn" in out and "modules[2]" in out


def test_torch_rnn_batchnorm_language_model_normalises_every_step_with_running_statistics(tmp_path):
    """torch-rnn LanguageModel.lua with batchnorm = 1: LookupTable, LSTM (gates i, f, o, g), the N x T x H
    states viewed as N*T x H through BatchNormalization (evaluate: (h - mean) / sqrt(var + eps) * w + b),
    viewed back, then the Linear on every step."""
    model = torch_rnn_bn_language_model(layers=1)
    net = model.fields["net"].fields["modules"]
    emb = net[0].fields["weight"].astype(np.float64)
    w, b = net[1].fields["weight"].astype(np.float64), net[1].fields["bias"].astype(np.float64)
    bn = net[3].fields
    mean, var, gamma, beta = (bn[k].astype(np.float64) for k in ("running_mean", "running_var", "weight", "bias"))
    wl, bl = _lin(net[-2])
    idx = np.array([[1, 4, 7, 2, 2], [3, 3, 5, 6, 1]], dtype=np.float64)
    x = emb[idx.astype(int) - 1]
    h, want = 4, np.zeros((2, 5, 7))
    hp, cp = np.zeros((2, h)), np.zeros((2, h))
    for t in range(5):
        a = b + x[:, t] @ w[:3] + hp @ w[3:]
        cp = _sig(a[:, h:2 * h]) * cp + _sig(a[:, :h]) * np.tanh(a[:, 3 * h:])
        hp = _sig(a[:, 2 * h:3 * h]) * np.tanh(cp)
        normed = (hp - mean) / np.sqrt(var + bn["eps"]) * gamma + beta
        want[:, t] = normed @ wl.T + bl
    got, ref = _both(tmp_path, model, idx)
    np.testing.assert_allclose(ref, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_torch_rnn_batchnorm_language_model_with_a_misplaced_view_is_refused(tmp_path):
    model = torch_rnn_bn_language_model(layers=1)
    mods = model.fields["net"].fields["modules"]
    mods[2], mods[3] = mods[3], mods[2]  # BatchNormalization before its bn_view_in
    out = _refusal(tmp_path, model, "5")
    assert "nn.LanguageModel" in out and "bn_view_in" in out and "modules[2]" in out


def test_rnn_lstm_mask_zero_restarts_a_sample_whose_step_input_is_all_zero(tmp_path):
    """LSTM:maskZero(1): MaskZero(recurrentModule) zeroes {h, c} of a sample whose x(t) row is all zero,
    so its next step starts from zero states: equal to a fresh first step on the same input."""
    lstm = rnn_lstm_mask_zero(3, 4)
    rng = np.random.default_rng(48)
    xs = [rng.standard_normal((2, 3)) for _ in range(3)]
    xs[1][0] = 0
    got, ref = _both(tmp_path, sequencer(lstm), xs)
    assert (ref[1][0] == 0).all() and (ref[1][1] != 0).all()
    _, fresh = _both(tmp_path, sequencer(lstm), [xs[2]])
    np.testing.assert_allclose(ref[2][0], fresh[0][0], rtol=1e-12)
    for r, g in zip(ref, got, strict=True):
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-5, atol=1e-6)


def test_a_step_module_that_holds_itself_is_refused(tmp_path):
    step = simple_recurrence(3, 2).fields["recurrentModule"]
    step.fields["modules"].append(step)
    out = _refusal(tmp_path, recurrence(step, 2))
    assert "nn.Recurrence" in out and "modules[2]" in out


@pytest.mark.parametrize("model, words", [
    (lambda: recurrence(tm.sequential(M("nn.SelectTable", index=1)), [1 << 24, 1 << 24]), "outputSize"),
    (lambda: spatial_glimpse(600, 3), "glimpse"),
])
def test_sizes_that_would_allocate_without_bound_are_refused_before_running(tmp_path, model, words):
    """A damaged outputSize or glimpse size is an input error naming the field, not an out-of-memory."""
    m = model()
    out = _refusal(tmp_path, m)
    assert m.class_name in out and words in out and "modules[2]" in out, out


def test_a_state_stored_for_step_0_is_refused(tmp_path):
    """LSTM:getHiddenState(0) takes ``userPrevOutput or outputs[0] or zeroTensor`` (cells likewise): a file
    holding cells[0] would start from it, not from zeros."""
    lstm = rnn_lstm(3, 2)
    lstm.fields["cells"] = {0: tm.f32(2), 1: tm.f32(2)}
    out = _refusal(tmp_path, lstm)
    assert "nn.LSTM" in out and "cells[0]" in out and "modules[2]" in out
