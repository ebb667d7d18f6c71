"""Table containers and table ops: the reference agrees with the semantics written out here, the
converted model takes and returns Python lists for Lua tables, bad fields are refused by name, and
on the shared fixtures the converted model reproduces what real Torch7 computed."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from click.testing import CliRunner
from layer_cases.tables import depth_concat, inception, map_table

import t7convert
from t7convert import T7ConvertError, api
from t7convert.cli import cli
from t7convert.interpreter import run as reference_run

M = tm.module


def _torch(x):
    return [_torch(v) for v in x] if isinstance(x, list) else torch.from_numpy(np.asarray(x))


def _numpy(y):
    return [_numpy(v) for v in y] if isinstance(y, (list, tuple)) else y.detach().numpy()


def _converted(tmp_path, model, input_shape=None, batch=1):
    src = tm.save(tmp_path, "m", model)
    report = api.convert(str(src), str(tmp_path / "m.pth"), input_shape=input_shape, batch=batch, force=True)
    assert report.verification.ok, report.verification.summary()
    return t7convert.load(str(tmp_path / "m.pth"))


def _run(module, x):
    with torch.no_grad():
        return _numpy(module(_torch(x)))


def test_depthconcat_centres_smaller_outputs_in_zeros(tmp_path):
    """Outputs 7x6, 5x4 and 6x5 (kernels 1x1, 3x3, 2x4): the smaller ones start at floor((max - size) / 2)."""
    model = depth_concat()
    x = tm.f32(2, 3, 7, 6)
    ref = reference_run(model, x).output
    assert ref.shape == (2, 6, 7, 6)
    np.testing.assert_array_equal(ref[:, 2:5, 0, :], 0)      # the 3x3 column: rows 1..5 of 7
    np.testing.assert_array_equal(ref[:, 5, :, 0], 0)        # the 4x2 kernel's 6x3 output, cols 1..3 of 6
    np.testing.assert_array_equal(ref[:, 5, :, 4:], 0)
    np.testing.assert_allclose(_run(_converted(tmp_path, model, (3, 7, 6), 2), x), ref, rtol=1e-5, atol=1e-6)


def test_parallel_selects_slices_and_joins(tmp_path):
    a, b = tm.linear(5, 3), tm.linear(5, 2)
    model = M("nn.Parallel", inputDimension=2, outputDimension=2, modules=[a, b])
    x = tm.f32(4, 2, 5)
    want = np.concatenate([x[:, 0] @ a.fields["weight"].T + a.fields["bias"],
                           x[:, 1] @ b.fields["weight"].T + b.fields["bias"]], 1)
    assert np.abs(reference_run(model, x).output - want).max() < 1e-6
    module = _converted(tmp_path, model)  # the input 2x5 per sample is told by the children
    assert np.abs(_run(module, x) - want).max() < 1e-5
    assert {k for k in module.state_dict()} == {"m1.weight", "m1.bias", "m2.weight", "m2.bias"}


def test_maptable_applies_one_module_with_one_set_of_weights(tmp_path):
    model = map_table()
    module = _converted(tmp_path, model)
    assert sorted(module.state_dict()) == ["m.0.bias", "m.0.weight"]
    xs = [tm.f32(2, 4) for _ in range(5)]  # more elements than the file's clones
    lin = model.fields["module"].fields
    for got, x in zip(_run(module, xs), xs):
        assert np.abs(got - (x @ lin["weight"].T + lin["bias"])).max() < 1e-5
    assert len(reference_run(model, xs).output) == 5


def test_bottle_folds_leading_dimensions(tmp_path):
    lin = tm.linear(4, 3)
    model = M("nn.Bottle", nInputDim=2, nOutputDim=2, modules=[lin])
    x = tm.f32(2, 3, 5, 4)
    want = x @ lin.fields["weight"].T + lin.fields["bias"]
    assert np.abs(reference_run(model, x).output - want).max() < 1e-6
    assert np.abs(_run(_converted(tmp_path, model, (5, 4), 2), x) - want).max() < 1e-5


def test_inception_on_a_single_image_removes_dimension_3_as_dpnn_does(tmp_path):
    """dpnn's fromBatch(output, 3) drops dimension 3 (asserting it is 1), not the batch: a 3-D input
    of height 1 gives 1 x C x W; any other height is refused, by both."""
    model = inception()
    module = _converted(tmp_path, model, (4, 6, 6), 2)
    x = tm.f32(4, 1, 5)
    ref = reference_run(model, x).output
    assert ref.shape == (1, 11, 5)
    assert np.abs(_run(module, x) - ref).max() <= 1e-5 * np.abs(ref).max()
    with pytest.raises(T7ConvertError, match="dimension 3"):
        reference_run(model, tm.f32(4, 6, 6))
    with pytest.raises(T7ConvertError, match="dimension 3"):
        _run(module, tm.f32(4, 6, 6))


def test_cmax_and_cmin_compare_with_gt_and_lt_so_nan_never_replaces_nor_is_replaced(tmp_path):
    """``mask:gt(input[i], output)``: a later NaN is never taken, a NaN in the first input never left."""
    nan = np.float32("nan")
    a, b = np.array([[1.0, nan, 3.0]], np.float32), np.array([[nan, 2.0, 4.0]], np.float32)
    for cls, want in [("nn.CMaxTable", [[1.0, nan, 4.0]]), ("nn.CMinTable", [[1.0, nan, 3.0]])]:
        model = M(cls)
        module = _converted(tmp_path, model)
        for got in (reference_run(model, [a, b]).output, _run(module, [a, b])):
            np.testing.assert_array_equal(got, np.array(want))


def test_mixture_of_a_table_of_experts(tmp_path):
    g, experts = tm.f32(2, 3), [tm.f32(2, 4) for _ in range(3)]
    want = sum(g[:, i:i + 1] * e for i, e in enumerate(experts))
    model = M("nn.MixtureTable")
    for got in (reference_run(model, [g, experts]).output, _run(_converted(tmp_path, model), [g, experts])):
        assert np.abs(got - want).max() < 1e-5


def test_index_onehot_and_maskedselect_take_integer_tensors(tmp_path):
    t, idx = tm.f32(5, 3), np.array([2, 5, 1, 2], np.int64)
    for got in (reference_run(M("nn.Index", dimension=1), [t, idx]).output,
                _run(_converted(tmp_path, M("nn.Index", dimension=1)), [t, idx])):
        np.testing.assert_array_equal(got, t[idx - 1])
    for got in (reference_run(M("nn.OneHot", outputSize=5), idx).output,
                _run(_converted(tmp_path, tm.sequential(M("nn.OneHot", outputSize=5))), idx)):
        np.testing.assert_array_equal(got, np.eye(5)[idx - 1])
    mask = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 0, 0], [1, 0, 0]], np.uint8)
    for got in (reference_run(M("nn.MaskedSelect"), [t, mask]).output,
                _run(_converted(tmp_path, M("nn.MaskedSelect")), [t, mask])):
        np.testing.assert_array_equal(got, t[mask != 0])


def test_table_outputs_nest_as_in_lua(tmp_path):
    a, b, c, d = (tm.f32(2, n) for n in (1, 2, 3, 4))
    got = _run(_converted(tmp_path, M("nn.ZipTable")), [[a, b], [c, d]])
    assert [[x.shape for x in pair] for pair in got] == [[(2, 1), (2, 3)], [(2, 2), (2, 4)]]
    got = _run(_converted(tmp_path, M("nn.FlattenTable")), [a, [b, [c]], d])
    assert [x.shape for x in got] == [(2, 1), (2, 2), (2, 3), (2, 4)]


@pytest.mark.parametrize("layer,field", tm.drawn(1, lambda: [
    (M("nn.Parallel", inputDimension=0, outputDimension=1, modules=[tm.linear(4, 4)]), "inputDimension"),
    (M("nn.DepthConcat", dimension=-1, modules=[tm.linear(4, 4)]), "dimension"),
    (M("nn.Bottle", nInputDim=0, modules=[tm.linear(4, 4)]), "nInputDim"),
    (M("nn.SelectTable", index=0), "index"),
    (M("nn.NarrowTable", offset=-1, length=1), "offset"),
    (M("nn.OneHot", outputSize=-3), "outputSize"),
    (M("nn.Index", dimension=0), "dimension"),
]), ids=["parallel", "depthconcat", "bottle", "selecttable", "narrowtable", "onehot", "index"])
def test_bad_fields_are_refused_with_class_field_and_path(tmp_path, layer, field):
    src = tm.save(tmp_path, "m", tm.sequential(M("nn.Identity"), layer))
    with pytest.raises(T7ConvertError, match=rf"{layer.class_name}.*{field}|{field}.*{layer.class_name}") as e:
        api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(4,))
    assert "modules[2]" in str(e.value)
    assert CliRunner().invoke(cli, ["convert", str(src), "-o", str(tmp_path / "c.pth")]).exit_code == 2
    assert not (tmp_path / "c.pth").exists()


# --- files written by real Torch7 ----------------------------------------------------------------
FIXTURE_IDS = ["parallel", "depthconcat", "bottle", "paralleltable", "concattable", "splittable", "jointable",
               "selecttable", "mixturetable", "flattentable", "narrowtable", "maptable", "ziptable",
               "ziptableonetomany", "cdivtable", "cmultable", "csubtable", "cmaxtable", "cmintable",
               "caddtensortable", "index", "onehot", "maskedselect", "inception"]


def _lua(value):
    """A Lua table read from a file (a list, or a dict keyed 1..n) as a nested Python list."""
    if isinstance(value, dict):
        return [_lua(value[k]) for k in sorted(value)]
    if isinstance(value, list):
        return [_lua(v) for v in value]
    return np.asarray(value)


def _flat(value):
    return [t for v in value for t in _flat(v)] if isinstance(value, list) else [np.asarray(value, np.float64)]


def _float32(x):
    if isinstance(x, list):
        return [_float32(v) for v in x]
    return x.astype(np.float32) if x.dtype.kind == "f" else x


@pytest.mark.slow
@pytest.mark.parametrize("fixture_id", FIXTURE_IDS)
def test_reproduces_real_torch7(torch7_fixtures, tmp_path, fixture_id):
    folder = torch7_fixtures / "torch7" / "catalog"
    ref = t7convert.read(folder / f"{fixture_id}.ref.t7")
    x, want = _lua(ref["input"]), _flat(_lua(ref["output"]))
    x32 = _float32(x)
    api.convert(str(folder / f"{fixture_id}.t7"), str(tmp_path / "m.pth"))
    got = _flat(_run(t7convert.load(str(tmp_path / "m.pth")), x32))
    reference = _flat(reference_run(t7convert.read(folder / f"{fixture_id}.t7"), x32).output)
    assert len(got) == len(want) == len(reference)
    for a, r, b in zip(got, reference, want):
        assert a.shape == b.shape == r.shape
        scale = max(np.abs(b).max(initial=0), 1e-12)
        assert np.abs(a - b).max(initial=0) / scale <= 1e-5 and np.abs(r - b).max(initial=0) / scale <= 1e-5


def test_parallel_refuses_a_slice_without_a_module(tmp_path):
    """Torch7 runs module i on slice i for every slice: a third slice for two modules fails, in both."""
    model = M("nn.Parallel", inputDimension=2, outputDimension=2, modules=[tm.linear(5, 3), tm.linear(5, 2)])
    module = _converted(tmp_path, model)
    x = tm.f32(4, 3, 5)
    with pytest.raises(T7ConvertError, match="3 slices"):
        reference_run(model, x)
    with pytest.raises(T7ConvertError, match="3 slices"):
        _run(module, x)


def test_split_table_slices_are_views_an_in_place_layer_writes_through(tmp_path):
    """SplitTable.lua: ``output[i] = input:select(dimension, i)``, views of the input. ReLU(true) on the first
    slice writes into the input, which the ConcatTable's second branch (Identity) then returns: the
    reference gives Torch7's numbers, and the converted model, which does not follow a write through a
    slice, is refused by its verification rather than written with other numbers."""
    relu = tm.module("nn.ReLU", threshold=0, val=0, inplace=True)
    lin = tm.linear(3, 3)
    model = tm.sequential(lin, tm.module("nn.ConcatTable", modules=[
        tm.sequential(tm.module("nn.SplitTable", dimension=2), tm.module("nn.SelectTable", index=1), relu),
        tm.module("nn.Identity")]), tm.module("nn.SelectTable", index=2))
    x = np.random.default_rng(21).standard_normal((4, 3))
    h = x @ lin.fields["weight"].astype(np.float64).T + lin.fields["bias"]
    want = h.copy()
    want[:, 0] = np.maximum(want[:, 0], 0)
    src = tm.save(tmp_path, "m", model)
    np.testing.assert_allclose(reference_run(t7convert.read(src), x).output, want, rtol=1e-12)
    with pytest.raises(api.VerificationError):
        api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(3,), batch=4, force=True)
    assert not (tmp_path / "m.pth").exists()
