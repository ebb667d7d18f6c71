"""The projects' own layers compute what their Lua code computes: small inputs worked out by hand from
deepmind/dqn's Rectifier.lua and facebookresearch/deepmask's SpatialSymmetricPadding.lua, modelUtils.lua
(SpatialConstDiagonal), DeepMask.lua and SharpMask.lua, checked on the reference execution and on the
converted module; neuraltalk2's LanguageModel is told from torch-rnn's by its fields and refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm

import t7convert
from t7convert import api
from t7convert.common.errors import T7ConvertError
from t7convert.interpreter import run as reference_run

M = tm.module


def _converted_and_reference(tmp_path, model, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(converted module's output, reference output) on ``x``, each as a list of float64 arrays; the
    conversion verified on an input of ``x``'s shape."""
    src = tm.save(tmp_path, "m", model)
    out = tmp_path / "m.pth"
    report = api.convert(str(src), str(out), input_shape=x.shape[1:], batch=x.shape[0], force=True)
    assert report.verification.ok, report.verification.summary()
    want = reference_run(t7convert.read(src), x).output
    with torch.no_grad():
        got = t7convert.load(str(out))(torch.from_numpy(x.astype(np.float32)))
    flat = lambda v: [np.asarray(t, np.float64) for t in v] if isinstance(v, (list, tuple)) else [np.asarray(v, np.float64)]  # noqa: E731
    return flat(got), flat(want)


# --- dqn's Rectifier: (|x| + x) / 2 -------------------------------------------------------------------
def test_dqn_rectifier_is_abs_plus_input_halved_so_minus_infinity_gives_nan():
    """``copy(input):abs():add(input):div(2)``: -inf -> (inf + -inf)/2 = NaN (ReLU would give 0)."""
    x = np.array([[-np.inf, -2.0, -0.0, 0.5, 3.0, np.inf, np.nan]])
    y = reference_run(M("nn.Rectifier"), x).output
    np.testing.assert_array_equal(y, [[np.nan, 0.0, 0.0, 0.5, 3.0, np.inf, np.nan]])


def test_dqn_rectifier_converts_exactly_and_overflows_in_float32_as_torch7_float_does(tmp_path):
    rng = np.random.default_rng(31)
    model = tm.sequential(M("nn.Rectifier"))
    x = rng.standard_normal((4, 6)).astype(np.float32)
    (got,), (want,) = _converted_and_reference(tmp_path, model, x)
    np.testing.assert_array_equal(got, np.maximum(x, 0))
    np.testing.assert_array_equal(got, want)
    module = t7convert.load(str(tmp_path / "m.pth"))
    with torch.no_grad():  # |x| + x = 6e38 is past float32's 3.4e38: Torch7's FloatTensor gives inf, then inf/2
        edge = module(torch.tensor([[3e38, -3e38, float("-inf")]], dtype=torch.float32)).numpy()
    assert edge[0, 0] == np.inf and edge[0, 1] == 0 and np.isnan(edge[0, 2])


# --- deepmask's SpatialSymmetricPadding ----------------------------------------------------------------
def _pad(l: int, r: int, t: int, b: int):
    return M("nn.SpatialSymmetricPadding", pad_l=l, pad_r=r, pad_t=t, pad_b=b)


def test_symmetric_padding_mirrors_including_the_edge_row_and_column():
    """[[1,2,3],[4,5,6]], pads l=1, r=2, t=1, b=0. After the copy into the middle of zeros: row 1 is the
    top pad, copied from output row 2 (1 2 3); column 1 from column 2; columns 5, 6 from columns 4, 3."""
    x = np.array([[[[1.0, 2, 3], [4, 5, 6]]]])
    y = reference_run(_pad(1, 2, 1, 0), x).output
    np.testing.assert_array_equal(y[0, 0], [[1, 1, 2, 3, 3, 2],
                                            [1, 1, 2, 3, 3, 2],
                                            [4, 4, 5, 6, 6, 5]])


def test_symmetric_padding_wider_than_the_input_copies_a_row_still_zero():
    """One row a, pads t=2, b=1 (H = 4 >= 2*2): the top loop fills row 2 from row 3 (a) and row 1 from
    row 4, the bottom pad, which the Lua loop only fills after: it stays 0. Then row 4 from row 3."""
    x = np.array([[[[7.0, 8.0]]]])
    y = reference_run(_pad(0, 0, 2, 1), x).output
    np.testing.assert_array_equal(y[0, 0], [[0, 0], [7, 8], [7, 8], [7, 8]])


def test_symmetric_padding_negative_pads_crop_first():
    """l = -1 drops the first column, r = 1 then mirrors the new last one: [[1,2,3]] -> [[2,3,3]]."""
    y = reference_run(_pad(-1, 1, 0, 0), np.array([[[[1.0, 2, 3]]]])).output
    np.testing.assert_array_equal(y[0, 0], [[2, 3, 3]])


@pytest.mark.parametrize("pads, shape", [((1, 2, 1, 0), (2, 2, 2, 3)), ((0, 0, 2, 1), (1, 3, 1, 2)),
                                         ((-1, 1, 2, -2), (2, 1, 4, 3)), ((3, 3, 3, 3), (1, 2, 3, 3))])
def test_symmetric_padding_converts_exactly_quirks_included(tmp_path, pads, shape):
    rng = np.random.default_rng(37)
    x = rng.standard_normal(shape).astype(np.float32)
    (got,), (want,) = _converted_and_reference(tmp_path, tm.sequential(_pad(*pads)), x)
    np.testing.assert_array_equal(got, want)


def test_symmetric_padding_larger_than_half_the_output_is_refused_by_both(tmp_path):
    """``w < 2*pad_l``: 'input is too small' in Lua (a 1-wide input padded 2 left, 0 right: w = 3 < 4)."""
    x = np.ones((1, 1, 2, 1), np.float32)
    with pytest.raises(T7ConvertError, match="too small"):
        reference_run(_pad(2, 0, 0, 0), x)
    src = tm.save(tmp_path, "m", tm.sequential(_pad(2, 0, 0, 0)))
    with pytest.raises(T7ConvertError):
        api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(1, 2, 1), batch=1, force=True)


# --- deepmask's SpatialConstDiagonal (modelUtils.BNtoFixed) ----------------------------------------------
def test_const_diagonal_scales_and_shifts_each_plane(tmp_path):
    """a = (2, 3), b = (1, -1): plane 1 holds 1 -> 1*2 + 1 = 3, plane 2 holds 2 -> 2*3 - 1 = 5."""
    layer = M("nn.SpatialConstDiagonal", a=np.array([2, 3], np.float32).reshape(1, 2, 1, 1),
              b=np.array([1, -1], np.float32).reshape(1, 2, 1, 1), inplace=True)
    x = np.array([1.0, 2.0]).reshape(1, 2, 1, 1)
    np.testing.assert_array_equal(reference_run(layer, x).output.reshape(-1), [3, 5])
    (got,), (want,) = _converted_and_reference(tmp_path, tm.sequential(layer), x.astype(np.float32))
    np.testing.assert_array_equal(got.reshape(-1), [3, 5])


# --- DeepMask and SharpMask: compositions of their fields -----------------------------------------------
def _k(cls: str, c: float, inplace: bool = False):
    return M(cls, constant_scalar=c, inplace=inplace)


def test_deepmask_outputs_its_mask_and_score_heads_on_the_trunk(tmp_path):
    """trunk x2, mask head +1, score head x(-1): x = 3 -> {7, -6}."""
    model = M("nn.DeepMask", None, trunk=tm.sequential(_k("nn.MulConstant", 2)),
              maskBranch=tm.sequential(_k("nn.AddConstant", 1)), scoreBranch=tm.sequential(_k("nn.MulConstant", -1)))
    x = np.full((1, 1), 3.0, np.float32)
    got, want = _converted_and_reference(tmp_path, model, x)
    assert [float(v.item()) for v in want] == [7.0, -6.0]
    assert [float(v.item()) for v in got] == [7.0, -6.0]


def _sharpmask(second_in_place: bool):
    """trunk {x2, +1}, refs[0] the identity, refs[1] CAddTable on {trunk.modules[1].output, current}."""
    return M("nn.SharpMask", None, trunk=tm.sequential(_k("nn.MulConstant", 2), _k("nn.AddConstant", 1, second_in_place)),
             refs={0: M("nn.Identity"), 1: M("nn.CAddTable", inplace=False)}, skpos=[1])


def test_sharpmask_refines_with_the_trunk_output_at_skpos(tmp_path):
    """x = 1: modules[1] gives 2, modules[2] gives 3; refs[0] keeps 3; refs[1] adds modules[1]'s 2: 5."""
    x = np.ones((1, 1), np.float32)
    (got,), (want,) = _converted_and_reference(tmp_path, _sharpmask(False), x)
    assert float(want.item()) == 5.0 and float(got.item()) == 5.0


def test_sharpmask_reading_an_output_a_later_in_place_layer_overwrote_is_refused(tmp_path):
    """With AddConstant(1, true) after it, Torch7's modules[1].output holds 3 when refs[1] reads it: 3 + 3
    = 6. The reference says so; the converter refuses rather than depend on that."""
    assert float(reference_run(_sharpmask(True), np.ones((1, 1))).output.item()) == 6.0
    src = tm.save(tmp_path, "m", _sharpmask(True))
    with pytest.raises(T7ConvertError, match="in-place"):
        api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(1,), batch=1, force=True)


# --- neuraltalk2's LanguageModel --------------------------------------------------------------------------
def test_neuraltalk2_language_model_is_told_from_torch_rnns_and_refused_naming_its_parts(tmp_path):
    """Same class name as torch-rnn's nn.LanguageModel; neuraltalk2's holds ``core`` (an nngraph LSTM)
    and ``lookup_table`` (misc/LanguageModel.lua)."""
    lm = M("nn.LanguageModel", None, core=tm.sequential(tm.linear(3, 3)),
           lookup_table=M("nn.LookupTable", weight=tm.f32(5, 3)), vocab_size=4, input_encoding_size=3,
           rnn_size=3, num_layers=1, seq_length=2)
    src = tm.save(tmp_path, "lm", {"protos": {"lm": lm}})
    with pytest.raises(T7ConvertError, match="neuraltalk2.*--key protos.lm.core"):
        api.convert(str(src), str(tmp_path / "lm.pth"), key="protos.lm", force=True)


# --- OpenNMT (lua) ------------------------------------------------------------------------------------------
def test_onmt_lstm_step_converts_as_its_gmodule_on_the_c_h_x_table(tmp_path):
    """onmt.LSTM is an onmt.Network: its forward is its net, the one-step gModule {c, h, x} -> {c', h'}.
    Checked against the LSTM equations written out here (gates i, f, o, g from one Linear sum)."""
    from layer_cases.projects import _onmt, _onmt_lstm_step

    rng = np.random.default_rng(41)
    model = _onmt("onmt.LSTM", _onmt_lstm_step(4, 3), numEffectiveLayers=2, outputSize=3)
    src = tm.save(tmp_path, "lstm", model)
    report = api.convert(str(src), str(tmp_path / "lstm.pth"), input="{3, 3, 4}", batch=2, force=True)
    assert report.verification.ok, report.verification.summary()
    c, h, x = (rng.standard_normal((2, n)) for n in (3, 3, 4))
    want = reference_run(t7convert.read(src), [c, h, x]).output
    step = model.get("net")
    graph = [n.get("data").get("module") for n in step.get("forwardnodes") if n.get("data").get("module") is not None]
    wx = next(m for m in graph if m.class_name == "nn.Linear" and m.get("bias") is None)
    wh = next(m for m in graph if m.class_name == "nn.Linear" and m.get("bias") is not None)
    sums = x @ wx.get("weight").T.astype(np.float64) + h @ wh.get("weight").T.astype(np.float64) + wh.get("bias")
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, o, g = sig(sums[:, :3]), sig(sums[:, 3:6]), sig(sums[:, 6:9]), np.tanh(sums[:, 9:])
    c2 = f * c + i * g
    np.testing.assert_allclose(want[0], c2, rtol=1e-12)
    np.testing.assert_allclose(want[1], o * np.tanh(c2), rtol=1e-12)
    with torch.no_grad():
        got = t7convert.load(str(tmp_path / "lstm.pth"))([torch.from_numpy(v.astype(np.float32)) for v in (c, h, x)])
    np.testing.assert_allclose(got[0].numpy(), c2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1].numpy(), o * np.tanh(c2), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("version, concat, expected", [(2, True, "v2"), (None, True, "concat"), (None, False, "first")])
def test_onmt_generator_forward_follows_the_version_its_fields_show(version, concat, expected):
    """Three Generator.lua forwards: version 2 takes a table's first element; a ConcatTable net without
    version runs as it is; the first Generator returns ``{net(input)}``. Linear weights of 1 and bias 0
    on [1, 2]: LogSoftMax of one value is 0 whatever it is, so the heads give [0] and [[0]]."""
    from layer_cases.projects import _onmt

    def head():
        return tm.sequential(M("nn.Linear", weight=np.ones((1, 2), np.float32), bias=np.zeros(1, np.float32)),
                             M("nn.LogSoftMax"))

    net = M("nn.ConcatTable", modules=[head()]) if concat else head()
    gen = _onmt("onmt.Generator", net)
    if version is not None:
        gen.fields["version"] = version
    x = np.array([[1.0, 2.0]])
    y = reference_run(gen, [x, np.zeros((1, 5))] if expected == "v2" else x).output
    assert isinstance(y, list) and len(y) == 1 and y[0].tolist() == [[0.0]]


# --- whole models as the projects' training scripts build and save them -------------------------------------
def _full(n_in: int, n_out: int, k: int, s: int, p: int):
    return M("nn.SpatialFullConvolution", nInputPlane=n_in, nOutputPlane=n_out, kW=k, kH=k, dW=s, dH=s, padW=p,
             padH=p, adjW=0, adjH=0, weight=tm.f32(n_in, n_out, k, k, scale=0.3), bias=tm.f32(n_out, scale=0.1))


def _leaky():
    return M("nn.LeakyReLU", negval=0.2, inplace=True)


def test_dcgan_generator_and_discriminator_files_convert(tmp_path):
    """soumith/dcgan.torch main.lua at ngf = ndf = 4, nz = 5, 16x16 images: netG (full convolutions,
    BN, ReLU(true), Tanh) and netD (convolutions, LeakyReLU(0.2, true), BN, Sigmoid, View(1) over 3
    dimensions), each saved alone as its ``_net_G.t7`` / ``_net_D.t7`` file."""
    net_g = tm.sequential(_full(5, 16, 4, 1, 0), tm.batchnorm(16), M("nn.ReLU", threshold=0, val=0, inplace=True),
                          _full(16, 8, 4, 2, 1), tm.batchnorm(8), M("nn.ReLU", threshold=0, val=0, inplace=True),
                          _full(8, 3, 4, 2, 1), M("nn.Tanh"))
    net_d = tm.sequential(tm.conv(3, 4, 4, 4, 2, 2, 1, 1, cls="nn.SpatialConvolution"), _leaky(),
                          tm.conv(4, 8, 4, 4, 2, 2, 1, 1, cls="nn.SpatialConvolution"), tm.batchnorm(8), _leaky(),
                          tm.conv(8, 1, 4, 4, cls="nn.SpatialConvolution"), M("nn.Sigmoid"), tm.view(1, num_input_dims=3))
    for name, net, shape in (("dcgan_net_G", net_g, (5, 1, 1)), ("dcgan_net_D", net_d, (3, 16, 16))):
        src = tm.save(tmp_path, name, net)
        report = api.convert(str(src), str(tmp_path / f"{name}.pth"), input_shape=shape, batch=2, force=True)
        assert report.verification.ok, report.verification.summary()


def test_dqn_checkpoint_model_converts_with_its_rectifiers(tmp_path):
    """deepmind/dqn convnet_atari3 at a small scale: Reshape to 4 frames, convolutions each followed by
    nn.Rectifier, Reshape to a vector, Linear, Rectifier, Linear to the actions; train_agent.lua saves
    ``{agent, model = agent.network, best_model, ...}``: the model is found under ``model``."""
    reshape_in = M("nn.Reshape", size=np.array([4, 12, 12], np.int64), nelement=576, batchMode=None)
    reshape_out = M("nn.Reshape", size=np.array([32], np.int64), nelement=32, batchMode=None)
    net = tm.sequential(reshape_in, tm.conv(4, 8, 4, 4, 2, 2, 1, 1, cls="nn.SpatialConvolution"), M("nn.Rectifier"),
                        tm.conv(8, 8, 3, 3, 3, 3, cls="nn.SpatialConvolution"), M("nn.Rectifier"), reshape_out,
                        tm.linear(32, 16), M("nn.Rectifier"), tm.linear(16, 3))
    src = tm.save(tmp_path, "DQN3_0_1_breakout_FULL_Y", {"model": net, "best_model": net, "arguments": {"lr": 0.00025}})
    report = api.convert(str(src), str(tmp_path / "dqn.pth"), input_shape=(576,), batch=2, force=True)
    assert report.verification.ok, report.verification.summary()


def test_deepmask_checkpoint_converts_its_model_entry(tmp_path):
    """TrainerDeepMask saves ``{config = config, model = model}``; the DeepMask is found under ``model``."""
    import layer_cases.projects as cases

    src = tm.save(tmp_path, "model", {"config": {"iSz": 6, "batch": 2}, "model": cases._deepmask()})
    report = api.convert(str(src), str(tmp_path / "deepmask.pth"), input_shape=(3, 6, 6), batch=2, force=True)
    assert report.verification.ok, report.verification.summary()


def _neuraltalk2_core(k: int, r: int, v: int):
    """misc/LSTM.lua, one layer: {x, prev_c, prev_h} -> {next_c, next_h, logsoft}; the gates are Narrows of
    i2h(x) + h2h(prev_h): sigmoid over the first 3r (in, forget, out), tanh over the last r."""
    import nngraph_models as ng

    def narrow(n, index, length):
        return g.node(M("nn.Narrow", dimension=2, index=index, length=length), n)

    g = ng.Graph()
    x, c, h = g.input(), g.input(), g.input()
    sums = g.node(M("nn.CAddTable"), g.node(tm.linear(k, 4 * r), x), g.node(tm.linear(r, 4 * r), h))
    sig = g.node(M("nn.Sigmoid"), narrow(sums, 1, 3 * r))
    in_gate, forget, out = narrow(sig, 1, r), narrow(sig, r + 1, r), narrow(sig, 2 * r + 1, r)
    transform = g.node(M("nn.Tanh"), narrow(sums, 3 * r + 1, r))
    next_c = g.node(M("nn.CAddTable"), g.node(M("nn.CMulTable"), forget, c), g.node(M("nn.CMulTable"), in_gate, transform))
    next_h = g.node(M("nn.CMulTable"), out, g.node(M("nn.Tanh"), next_c))
    top = g.node(M("nn.Dropout", p=0.5, v2=True, inplace=False), next_h)
    logsoft = g.node(M("nn.LogSoftMax"), g.node(tm.linear(r, v + 1), top))
    return g.module([x, c, h], [next_c, next_h, logsoft])


def test_neuraltalk2_checkpoint_parts_convert_by_their_keys(tmp_path):
    """train.lua saves ``{protos = {cnn, lm}, vocab, opt, ...}``; the LanguageModel is refused, and its
    core (the LSTM step) and word vectors, and the CNN, convert under the keys the refusal names."""
    lm = M("nn.LanguageModel", None, core=_neuraltalk2_core(6, 5, 4), lookup_table=M("nn.LookupTable", weight=tm.f32(5, 6)),
           vocab_size=4, input_encoding_size=6, rnn_size=5, num_layers=1, seq_length=3)
    cnn = tm.sequential(tm.conv(3, 4, 3, 3, 1, 1, 1, 1), M("cudnn.ReLU", inplace=True), tm.view(-1, 4 * 4 * 4),
                        tm.linear(64, 6))
    src = tm.save(tmp_path, "model_id", {"protos": {"cnn": cnn, "lm": lm}, "vocab": {"1": "a", "2": "b"}})
    for key, given in (("protos.lm.core", "{6, 5, 5}"), ("protos.lm.lookup_table", "idx[1..5] x 3"),
                       ("protos.cnn", "3x4x4")):
        report = api.convert(str(src), str(tmp_path / f"{key}.pth"), key=key, input=given, batch=2, force=True)
        assert report.verification.ok, (key, report.verification.summary())
