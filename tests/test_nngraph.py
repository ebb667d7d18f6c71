"""nngraph gModules: the DAG conversion follows nngraph's own data (forwardnodes, mapindex, selectindex,
innode/outnode), the reference execution walks the graph itself, and bad graphs are refused naming
the node and the field."""
from __future__ import annotations

import nngraph_models as ng
import numpy as np
import pytest
import torch
import torch7_models as tm
from click.testing import CliRunner
from layer_cases.nngraph import two_in_two_out

import t7convert
from t7convert import api
from t7convert.cli import cli
from t7convert.interpreter import run
from t7convert.parity.compare import observe

M = tm.module


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _lin(m, x):
    return x @ m.fields["weight"].astype(np.float64).T + m.fields["bias"]


def test_reference_walk_follows_mapindex_order_and_split_outputs():
    """CSubTable{b, a} gets its arguments in mapindex order; split(2) hands out the SplitTable's elements."""
    g = ng.Graph()
    x = g.input()
    a, b = g.split(g.node(ng.split_table(2), x), 2)
    lin = tm.linear(3, 3)
    out = g.node(M("nn.CSubTable"), b, g.node(lin, a))
    model = g.module([x], [out])
    xv = np.random.default_rng(0).standard_normal((2, 2, 3))
    got = run(model, xv).output
    np.testing.assert_allclose(got, xv[:, 1] - _lin(lin, xv[:, 0]), rtol=1e-12)


def test_several_outputs_come_back_as_a_list_in_outnode_order():
    g = ng.Graph()
    x = g.input()
    t = g.node(M("nn.Tanh"), x)
    s = g.node(M("nn.Sigmoid"), x)
    model = g.module([x], [s, t])
    xv = np.linspace(-1, 1, 6).reshape(2, 3)
    got = run(model, xv).output
    assert isinstance(got, list) and len(got) == 2
    np.testing.assert_allclose(got[0], _sigmoid(xv))
    np.testing.assert_allclose(got[1], np.tanh(xv))


def test_parity_has_one_stage_per_node_nested_ones_included(tmp_path):
    src = tm.save(tmp_path, "g", two_in_two_out())
    report = api.convert(str(src), str(tmp_path / "g.pth"))
    assert report.verification.ok, report.verification.summary()
    paths = {s.path for s in report.verification.stages}
    assert {"modules[3]", "modules[5]", "modules[7].modules[2]", "modules[7].modules[5]"} <= paths


def test_state_dict_keys_are_the_module_places_and_annotation_names(tmp_path):
    model = two_in_two_out()
    src = tm.save(tmp_path, "g", model)
    api.convert(str(src), str(tmp_path / "g.pth"))
    state = torch.load(tmp_path / "g.pth", weights_only=True)["state_dict"]
    # gModule.modules[k] (forwardnodes order) is m<k>; inside the nested gModule at k, m<k>_<j>
    places = {m.class_name: k for k, m in enumerate(model.fields["modules"], 1) if m.class_name != "nn.Linear"}
    inner = places["nn.gModule"]
    j = next(i for i, m in enumerate(model.fields["modules"][inner - 1].fields["modules"], 1)
             if m.class_name == "nn.Linear")
    linears = [k for k, m in enumerate(model.fields["modules"], 1) if m.class_name == "nn.Linear"]
    assert f"m{linears[0]}_shared_linear.weight" in state  # annotated name='shared linear'
    assert f"m{inner}_{j}.weight" in state and f"m{linears[1]}.weight" in state
    assert sum(k.endswith(".weight") for k in state) == 3


def test_a_single_input_single_output_gmodule_takes_and_returns_a_tensor(tmp_path):
    from layer_cases.nngraph import single
    src = tm.save(tmp_path, "g", single())
    api.convert(str(src), str(tmp_path / "g.pth"))
    module = t7convert.load(str(tmp_path / "g.pth"))
    y = module(torch.zeros(2, 5))
    assert isinstance(y, torch.Tensor) and y.shape == (2, 3)


def _broken(kind: str):
    model = two_in_two_out()
    nodes = model.fields["forwardnodes"]
    if kind == "cycle":  # a node whose input comes after it
        first_module = next(n for n in nodes if n.fields["data"].get("module") is not None
                            and n.fields["data"]["mapindex"])
        first_module.fields["data"]["mapindex"][1] = nodes[-1].fields["data"]
        return model, "mapindex[1]"
    if kind == "missing module":
        node = next(n for n in nodes if n.fields["data"].get("module") is not None)
        node.fields["data"]["module"] = M("nn.Tanh")  # not one of the gModule's modules
        return model, "data.module"
    node = next(n for n in nodes if n.fields["data"].get("selectindex") == 2)
    node.fields["data"]["selectindex"] = 3
    return model, "selectindex"


@pytest.mark.parametrize("kind", ["cycle", "missing module", "split index"])
def test_a_broken_graph_is_refused_naming_the_node_and_field(tmp_path, kind):
    model, field = _broken(kind)
    src = tm.save(tmp_path, "g", model)
    out = tmp_path / "g.pth"
    result = CliRunner().invoke(cli, [str(src), "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert "nngraph node" in result.output and field in result.output
    assert "nn.gModule" in result.output
    assert not out.exists()


def test_the_hand_made_dag_fixture_reproduces_torch7(torch7_fixtures, tmp_path):
    folder = torch7_fixtures / "torch7" / "graphs"
    report = api.convert(str(folder / "nngraph_dag_two_in_two_out.t7"), str(tmp_path / "d.pth"))
    assert report.verification.ok
    ref = t7convert.read(folder / "nngraph_dag_two_in_two_out.ref.t7")
    module = t7convert.load(str(tmp_path / "d.pth"))
    with torch.no_grad():
        out = module([torch.from_numpy(np.asarray(t)) for t in ref["input"]])
    for got, want in zip(out, ref["output"], strict=True):
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-5 * float(np.abs(want).max()))
    # the reference walk equals Torch7 too, on its own
    for got, want in zip(run(t7convert.read(folder / "nngraph_dag_two_in_two_out.t7"), list(ref["input"])).output,
                         ref["output"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_parity_command_compares_table_inputs_and_outputs_with_torch7(torch7_fixtures):
    folder = torch7_fixtures / "torch7" / "graphs"
    result = CliRunner().invoke(cli, ["parity", str(folder / "charrnn_lstm_2x24.t7"),
                                      "--reference", str(folder / "charrnn_lstm_2x24.ref.t7")])
    assert result.exit_code == 0, result.output
    assert "input {3, 3x24, 3x24, 3x24, 3x24}" in result.output and "PARITY OK" in result.output
    assert "modules[36]  nn.LogSoftMax" in result.output  # a stage per gModule node


# --- in-place layers: a value overwritten for every later reader, stages observed as produced ------
def test_a_skip_taken_before_an_in_place_leaky_relu_reads_the_overwritten_tensor(tmp_path):
    """pix2pix's U-Net: ``e1 - nn.LeakyReLU(0.2, true) - conv ...`` and later ``{d, e1} - nn.JoinTable(2)``.
    LeakyReLU(true) writes into e1's tensor, so the join reads leaky(e1) (and a Tanh after it shows it:
    a ReLU would hide it). Every stage is compared as its module produced it: e1's stage is the conv
    output before the LeakyReLU overwrote it, on both sides."""
    g = ng.Graph()
    x = g.input()
    conv1 = tm.conv(3, 2, 3, 3, 1, 1, 1, 1)
    e1 = g.node(conv1, x)
    leaky = g.node(M("nn.LeakyReLU", negval=0.2, inplace=True), e1)
    conv2 = tm.conv(2, 2, 3, 3, 1, 1, 1, 1)
    d = g.node(conv2, leaky)
    join = g.node(M("nn.JoinTable", dimension=2), d, e1)
    out = g.node(M("nn.ReLU", threshold=0, val=0, inplace=True), join)
    model = g.module([x], [g.node(M("nn.Tanh"), out)])
    src = tm.save(tmp_path, "unet", model)
    report = api.convert(str(src), str(tmp_path / "u.pth"), input_shape=(3, 5, 5), batch=2, force=True)
    assert report.verification.ok, report.verification.summary()

    xv = np.random.default_rng(3).standard_normal((2, 3, 5, 5)).astype(np.float32)
    ex = run(t7convert.read(src), xv)
    conv = torch.nn.functional.conv2d
    t = torch.from_numpy(xv).double()
    w1, b1 = (torch.from_numpy(conv1.fields[f].astype(np.float64)) for f in ("weight", "bias"))
    w2, b2 = (torch.from_numpy(conv2.fields[f].astype(np.float64)) for f in ("weight", "bias"))
    e1v = conv(t, w1, b1, padding=1)
    leakyv = torch.where(e1v > 0, e1v, 0.2 * e1v)
    joinv = torch.cat([conv(leakyv, w2, b2, padding=1), leakyv], 1)
    first_conv = next(p for p in ex.order if ex.classes[p].endswith("SpatialConvolution"))
    join_path = next(p for p in ex.order if ex.classes[p] == "nn.JoinTable")
    np.testing.assert_allclose(ex.outputs[first_conv], e1v.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ex.outputs[join_path], joinv.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ex.output, torch.tanh(joinv.clamp_min(0)).numpy(), rtol=1e-10, atol=1e-12)
    seen = observe(t7convert.load(str(tmp_path / "u.pth")), xv)
    np.testing.assert_allclose(seen.stages[first_conv], e1v.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(seen.stages[join_path], joinv.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("second", ["identity", "contiguous", "relu"])
def test_a_concat_table_branch_after_an_in_place_one_reads_the_overwritten_input(tmp_path, second):
    """ConcatTable{MulConstant(2, true), ReLU}: the first branch doubles the shared input in place, so the
    second branch reads 2x. An Identity (``output = input``) or a Contiguous of a contiguous input
    (``output:set(input)``) taken first shares the tensor and is doubled too."""
    mul = M("nn.MulConstant", constant_scalar=2.0, inplace=True)
    other = {"identity": M("nn.Identity"), "contiguous": M("nn.Contiguous"),
             "relu": M("nn.ReLU", threshold=0, val=0, inplace=False)}[second]
    branches = [mul, other] if second == "relu" else [other, mul]
    model = tm.sequential(tm.linear(4, 4), M("nn.ConcatTable", modules=branches), M("nn.JoinTable", dimension=2))
    src = tm.save(tmp_path, "m", model)
    report = api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(4,), batch=3, force=True)
    assert report.verification.ok, report.verification.summary()
    xv = np.random.default_rng(4).standard_normal((3, 4))
    h = _lin(model.children[0], xv)
    want = np.concatenate([2 * h, np.maximum(2 * h, 0)] if second == "relu" else [2 * h, 2 * h], 1)
    np.testing.assert_allclose(run(t7convert.read(src), xv).output, want, rtol=1e-10)
    with torch.no_grad():
        got = t7convert.load(str(tmp_path / "m.pth"))(torch.from_numpy(xv.astype(np.float32))).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_cadd_table_in_place_overwrites_its_first_input_for_later_readers(tmp_path):
    """ConcatTable{CAddTable(true), SelectTable(1)} on {a, b}: CAddTable(true) writes a + b into a, so
    SelectTable(1) then reads a + b."""
    la, lb = tm.linear(4, 4), tm.linear(4, 4)
    model = tm.sequential(M("nn.ConcatTable", modules=[la, lb]),
                          M("nn.ConcatTable", modules=[M("nn.CAddTable", inplace=True), M("nn.SelectTable", index=1)]),
                          M("nn.JoinTable", dimension=2))
    src = tm.save(tmp_path, "m", model)
    report = api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(4,), batch=2, force=True)
    assert report.verification.ok, report.verification.summary()
    xv = np.random.default_rng(5).standard_normal((2, 4))
    s = _lin(la, xv) + _lin(lb, xv)
    np.testing.assert_allclose(run(t7convert.read(src), xv).output, np.concatenate([s, s], 1), rtol=1e-10)
