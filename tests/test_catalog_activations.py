"""Element-wise transfer functions: each converts, verifies against the reference execution, and the
reference agrees with the function written out here in NumPy; with the shared fixtures, the converted
model reproduces what real Torch7 computed."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from catalog_checks import rel

import t7convert
from t7convert import T7ConvertError, api
from t7convert.interpreter import run as reference_run


def _softmin(x):
    e = np.exp(-x - (-x).max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _logsigmoid(x):
    return -np.logaddexp(0.0, -x)


# (id, Torch7 class, fields, NumPy formula of the output); inputs are a Linear(5,6)'s outputs, about +-2
CASES = [
    ("sigmoid", "nn.Sigmoid", {}, lambda x: 1 / (1 + np.exp(-x))),
    ("cudnn_sigmoid", "cudnn.Sigmoid", {"inplace": False}, lambda x: 1 / (1 + np.exp(-x))),
    ("cudnn_sigmoid_inplace", "cudnn.Sigmoid", {"inplace": True}, lambda x: 1 / (1 + np.exp(-x))),
    ("tanh", "nn.Tanh", {}, np.tanh),
    ("cudnn_tanh", "cudnn.Tanh", {"inplace": False}, np.tanh),
    ("hardtanh", "nn.HardTanh", {"min_val": -1, "max_val": 1, "inplace": False}, lambda x: np.clip(x, -1, 1)),
    ("hardtanh_defaults", "nn.HardTanh", {}, lambda x: np.clip(x, -1, 1)),
    ("hardtanh_inplace", "nn.HardTanh", {"min_val": -0.3, "max_val": 0.7, "inplace": True},
     lambda x: np.clip(x, -0.3, 0.7)),
    ("clamp", "nn.Clamp", {"min_val": -0.5, "max_val": 0.5, "inplace": False}, lambda x: np.clip(x, -0.5, 0.5)),
    ("relu6", "nn.ReLU6", {"inplace": False}, lambda x: np.clip(x, 0, 6)),  # weights scaled to reach 6
    ("leakyrelu", "nn.LeakyReLU", {"negval": 0.01, "inplace": False}, lambda x: np.where(x > 0, x, 0.01 * x)),
    ("leakyrelu_default", "nn.LeakyReLU", {}, lambda x: np.where(x > 0, x, 0.01 * x)),
    ("leakyrelu_inplace", "nn.LeakyReLU", {"negval": 0.2, "inplace": True}, lambda x: np.where(x > 0, x, 0.2 * x)),
    ("elu", "nn.ELU", {"alpha": 1, "inplace": False}, lambda x: np.where(x > 0, x, np.expm1(x))),
    ("elu_alpha", "nn.ELU", {"alpha": 0.5, "inplace": True}, lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    ("softplus", "nn.SoftPlus", {"beta": 1, "threshold": 20}, lambda x: np.log1p(np.exp(x))),
    ("softplus_threshold", "nn.SoftPlus", {"beta": 4, "threshold": 2},
     lambda x: np.where(4 * x > 2, x, np.log1p(np.exp(4 * x)) / 4)),
    ("softplus_defaults", "nn.SoftPlus", {}, lambda x: np.log1p(np.exp(x))),
    ("softsign", "nn.SoftSign", {}, lambda x: x / (1 + np.abs(x))),
    ("logsigmoid", "nn.LogSigmoid", {}, _logsigmoid),
    ("tanhshrink", "nn.TanhShrink", {"tanh": tm.module("nn.Tanh")}, lambda x: x - np.tanh(x)),
    ("hardshrink", "nn.HardShrink", {"lambda": 0.5}, lambda x: np.where(np.abs(x) > 0.5, x, 0)),
    ("hardshrink_default", "nn.HardShrink", {}, lambda x: np.where(np.abs(x) > 0.5, x, 0)),
    ("softshrink", "nn.SoftShrink", {"lambda": 0.3}, lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.3, 0)),
    ("softshrink_default", "nn.SoftShrink", {}, lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.5, 0)),
    ("abs", "nn.Abs", {}, np.abs),
    ("exp", "nn.Exp", {}, np.exp),
    ("log", "nn.Log", {}, np.log),           # NaN for negative inputs, in both
    ("power", "nn.Power", {"pow": 3}, lambda x: x ** 3),
    ("power_half", "nn.Power", {"pow": 0.5}, np.sqrt),
    ("square", "nn.Square", {}, np.square),
    ("sqrt", "nn.Sqrt", {"eps": 0}, np.sqrt),
    ("sqrt_eps_unused", "nn.Sqrt", {"eps": 0.1}, np.sqrt),  # THNN never uses eps in the forward pass
    ("addconstant", "nn.AddConstant", {"constant_scalar": 1.5, "inplace": False}, lambda x: x + 1.5),
    ("addconstant_inplace", "nn.AddConstant", {"constant_scalar": -0.25, "inplace": True}, lambda x: x - 0.25),
    ("softmin", "nn.SoftMin", {}, _softmin),
]


@pytest.mark.parametrize("cls,fields,formula", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_converts_verifies_and_the_reference_is_the_formula(tmp_path, cls, fields, formula):
    lin = tm.linear(5, 6)
    if cls == "nn.ReLU6":  # reach past 6
        lin.fields["weight"] = lin.fields["weight"] * 4
        lin.fields["bias"] = lin.fields["bias"] * 4
    model = tm.sequential(lin, tm.module(cls, **fields))
    src = tm.save(tmp_path, "m", model)
    report = api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(5,), force=True)
    assert report.verification.ok, report.verification.summary()

    x = tm.f32(4, 5) * 2
    hidden = x.astype(np.float64) @ lin.fields["weight"].astype(np.float64).T + lin.fields["bias"]
    with np.errstate(invalid="ignore"):  # Log, Sqrt, Power(0.5) of negative values: NaN, as in Torch7
        want = formula(hidden)
    got = reference_run(t7convert.read(src), x).output
    assert rel(got, want) <= 1e-12
    with torch.no_grad():
        converted = t7convert.load(str(tmp_path / "m.pth"))(torch.from_numpy(x)).numpy()
    assert rel(converted, want) <= 1e-5


def _ref(model, x):
    return reference_run(model, np.array(x, np.float32)).output


def _converted(path, x):
    with torch.no_grad():
        return t7convert.load(str(path))(torch.from_numpy(np.array(x, np.float32))).numpy()


def test_nan_follows_thnn(tmp_path):
    """HardTanh maps NaN to max (out of place, and in place on 1-D input); the shrinks map it to 0."""
    nan = np.float32("nan")
    for fields, x, want in [
        ({"inplace": False}, [[nan, 2.0, -3.0, 0.5]], [[1.0, 1.0, -1.0, 0.5]]),
        ({"inplace": True}, [[nan, 2.0, -3.0, 0.5]], [[nan, 1.0, -1.0, 0.5]]),
        ({"inplace": True}, [nan, 2.0, -3.0, 0.5], [1.0, 1.0, -1.0, 0.5]),
    ]:
        model = tm.sequential(tm.module("nn.HardTanh", min_val=-1, max_val=1, **fields))
        src = tm.save(tmp_path, "h", model)
        for got in (_ref(t7convert.read(src), x), _converted(src, x)):
            np.testing.assert_array_equal(got, np.array(want))
    for cls, want in [("nn.HardShrink", [0.0, 2.0, 0.0]), ("nn.SoftShrink", [0.0, 1.5, 0.0])]:
        src = tm.save(tmp_path, "s", tm.sequential(tm.module(cls)))
        for got in (_ref(t7convert.read(src), [nan, 2.0, 0.1]), _converted(src, [nan, 2.0, 0.1])):
            np.testing.assert_array_equal(got, np.array(want))


@pytest.mark.parametrize("layer", [tm.module("nn.HardTanh", min_val=-1, max_val=1, inplace=True),
                                   tm.module("nn.ReLU6", inplace=True), tm.module("nn.ELU", alpha=1, inplace=True),
                                   tm.module("nn.LeakyReLU", negval=0.1, inplace=True),
                                   tm.module("nn.AddConstant", constant_scalar=2, inplace=True),
                                   tm.module("cudnn.Tanh", inplace=True), tm.module("cudnn.Sigmoid", inplace=True)],
                         ids=lambda m: m.class_name)
def test_in_place_layers_overwrite_the_output_before_them(tmp_path, layer):
    """As in Torch7, the Linear's output ends up holding the in-place layer's result; the converted model
    (observed with hooks) still verifies stage by stage."""
    model = tm.sequential(tm.linear(3, 4), layer)
    execution = reference_run(model, tm.f32(2, 3) * 8)
    np.testing.assert_array_equal(execution.final["modules[1]"], execution.outputs["modules[2]"])
    assert execution.produced_equivalent("modules[1]") == "modules[2]"
    src = tm.save(tmp_path, "m", model)
    assert api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(3,), force=True).verification.ok


def test_softmin_over_planes_of_a_4d_input(tmp_path):
    model = tm.sequential(tm.module("nn.SoftMin"))
    src = tm.save(tmp_path, "m", model)
    api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(3, 4, 4), force=True)
    x = tm.f32(2, 3, 4, 4)
    got = _converted(tmp_path / "m.pth", x)
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-5)
    assert (got.argmax(1) == x.argmin(1)).all()


def test_a_tensor_constant_is_refused_with_its_place(tmp_path):
    src = tm.save(tmp_path, "m", tm.sequential(tm.module("nn.AddConstant", constant_scalar=tm.f32(3))))
    with pytest.raises(T7ConvertError, match="AddConstant"):
        api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(3,))


# --- files written by real Torch7 ----------------------------------------------------------------
FIXTURE_IDS = ["sigmoid", "tanh", "hardtanh", "clamp", "relu6", "leakyrelu", "elu", "softplus", "softsign",
               "logsigmoid", "tanhshrink", "hardshrink", "softshrink", "abs", "exp", "log", "power", "square",
               "sqrt", "addconstant", "softmin", "cudnn_tanh", "cudnn_sigmoid"]


@pytest.mark.parametrize("fixture_id", FIXTURE_IDS)
def test_reproduces_real_torch7(torch7_fixtures, fixture_id):
    folder = torch7_fixtures / "torch7" / "catalog"
    ref = t7convert.read(folder / f"{fixture_id}.ref.t7")
    x = np.array(ref["input"], np.float32)
    with torch.no_grad():
        got = t7convert.load(str(folder / f"{fixture_id}.t7"))(torch.from_numpy(x)).numpy()
    assert rel(got, np.array(ref["output"])) <= 1e-5
    assert rel(reference_run(t7convert.read(folder / f"{fixture_id}.t7"), x).output, np.array(ref["output"])) <= 1e-5
