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
