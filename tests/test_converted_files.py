"""A converted file says what it is (a versioned description), and a damaged one is refused in one line."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch7_models as tm

import t7convert
from t7convert import T7ConvertError, api


def _mlp(tmp_path):
    """An MNIST-style MLP: it starts with View(784), so its input is a 784-vector (no --input-size)."""
    return tm.save(tmp_path, "mlp", tm.sequential(tm.view(784), tm.linear(784, 16), tm.relu(), tm.linear(16, 10)))


def _t7convert(*args):
    return subprocess.run([sys.executable, "-m", "t7convert", *map(str, args)], capture_output=True, text=True)


@pytest.mark.slow
def test_a_view_mlp_converts_without_an_input_size(tmp_path):
    out = tmp_path / "mlp.pth"
    r = _t7convert(_mlp(tmp_path), "-o", out)
    assert r.returncode == 0, r.stderr
    assert "input: 784 (batch of 1)" in r.stdout and "PASS" in r.stdout


@pytest.mark.slow
def test_a_generic_file_holds_a_versioned_description(tmp_path):
    out = tmp_path / "mlp.pth"
    assert _t7convert(_mlp(tmp_path), "-o", out).returncode == 0
    payload = torch.load(out, weights_only=True)
    info = payload["t7convert"]
    assert info["format_version"] == 2 and info["kind"] == "generic"
    graph = info["graph"]  # a DAG: each layer names the values it consumes; module names follow Torch7 paths
    assert [n["name"] for n in graph["nodes"]] == ["m1", "m2", "m3", "m4"]
    assert graph["nodes"][1] == {"name": "m2", "op": "Linear", "args": [["m1"]], "source": "modules[2]",
                                 "attrs": {"in_features": 784, "out_features": 16, "bias": True}}
    assert graph["output"] == ["m4"] and set(payload["state_dict"]) == {"m2.weight", "m2.bias", "m4.weight", "m4.bias"}


def _rewritten(tmp_path, change):
    out = tmp_path / "mlp.pth"
    assert _t7convert(_mlp(tmp_path), "-o", out).returncode == 0
    payload = torch.load(out, weights_only=True)
    change(payload["t7convert"])
    bad = tmp_path / "bad.pth"
    torch.save(payload, bad)
    return bad


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(format_version=99), "format_version 99"),
    (lambda d: d.pop("format_version"), "no format_version"),
    (lambda d: d.update(kind="weird"), "kind"),
    (lambda d: d["graph"].update(nodes="nope"), "graph.nodes is not a list"),
    (lambda d: d["graph"]["nodes"][1].pop("op"), "graph.nodes[1] has no op"),
    (lambda d: d["graph"]["nodes"][1]["attrs"].pop("in_features"), "graph.nodes[1] (Linear)"),
    (lambda d: d["graph"]["nodes"][1]["attrs"].update(in_features={"a": 1}), "not plain data"),
    (lambda d: d["graph"]["nodes"][1].update(op="NoSuchOp"), "unknown op"),
    (lambda d: d["graph"]["nodes"][1].update(args=[["m9"]]), "refers to 'm9'"),
    (lambda d: d["graph"].update(output=["nowhere"]), "graph.output refers to"),
])
@pytest.mark.slow
def test_a_damaged_description_is_refused_in_one_line(tmp_path, change, words):
    bad = _rewritten(tmp_path, change)
    for command in (["parity", _mlp(tmp_path), bad],):
        r = _t7convert(*command)
        assert r.returncode == 2, (r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("t7convert: error:") and words in lines[0], r.stderr
        assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_load_refuses_a_damaged_description_with_the_file_named(tmp_path):
    import t7convert

    bad = _rewritten(tmp_path, lambda d: d.update(format_version=99))
    with pytest.raises(t7convert.T7ConvertError, match=r"bad\.pth: .*format_version 99"):
        t7convert.load(str(bad))


def test_a_loaded_model_says_what_data_it_expects(tmp_path):
    """Like timm's pretrained_cfg: the input size it was verified on and its number of classes."""
    src = tm.save(tmp_path, "mlp", tm.sequential(tm.view(784), tm.linear(784, 16), tm.relu(), tm.linear(16, 10)))
    out = tmp_path / "mlp.pth"
    api.convert(str(src), str(out))
    from t7convert.conversion.input_spec import InputSpec
    spec = InputSpec.tensor(784)
    assert t7convert.load(str(out)).data_config == {"input": spec, "input_size": [784], "num_classes": 10}
    stored = torch.load(out, weights_only=True)["t7convert"]["data_config"]
    assert stored == {"input": spec.to_json(), "input_size": [784], "num_classes": 10}


def test_a_data_config_that_is_not_plain_data_is_refused(tmp_path):
    src = tm.save(tmp_path, "mlp", tm.sequential(tm.linear(4, 2)))
    out = tmp_path / "m.pth"
    api.convert(str(src), str(out))
    payload = torch.load(out, weights_only=True)
    payload["t7convert"]["data_config"] = ["not", "a", "table"]
    torch.save(payload, out)
    with pytest.raises(T7ConvertError, match="data_config"):
        t7convert.load(str(out))
