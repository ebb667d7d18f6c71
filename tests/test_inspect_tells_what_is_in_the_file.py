"""``t7convert inspect`` tells a user what a file holds: a root tensor's shape and dtype, a root number's
value, a user's own ``torch.class`` as data (not a model of 0 parameters), every model of a checkpoint
table with its key and class and the one ``convert`` takes, the architecture ``convert`` recognises, a
converted ``.pth``/safetensors file's own description, and a stream of several top-level objects."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch7_models as tm
from click.testing import CliRunner

import t7convert
from t7convert import T7Object, api
from t7convert.cli import cli
from t7convert.torch7.format import T7List, dumps_stream


def _inspect(*args: str):
    return CliRunner().invoke(cli, ["inspect", *map(str, args)])


def _linear(seed: int, n_in: int = 4, n_out: int = 3) -> T7Object:
    rng = np.random.default_rng(seed)
    return tm.module("nn.Linear", weight=rng.standard_normal((n_out, n_in)).astype(np.float32),
                     bias=rng.standard_normal(n_out).astype(np.float32))


def test_inspect_shows_a_root_tensors_shape_and_dtype_and_a_root_numbers_value(tmp_path):
    t7convert.write(tmp_path / "t.t7", np.zeros((4, 1000), np.float64))
    t7convert.write(tmp_path / "n.t7", 2.457576098833765)
    tensor = _inspect(tmp_path / "t.t7")
    assert tensor.exit_code == 0 and "root: a DoubleTensor 4x1000 (float64)" in tensor.output
    number = _inspect(tmp_path / "n.t7")
    assert number.exit_code == 0 and "root: the number 2.457576098833765" in number.output
    assert "parameters" not in number.output


def test_inspect_does_not_present_a_users_own_class_as_a_model(tmp_path):
    symbols = T7List([T7Object("SymbolManager", None, {"symbols": {"a": 1}, "count": 1}) for _ in range(2)])
    t7convert.write(tmp_path / "map.t7", symbols)
    result = _inspect(tmp_path / "map.t7")
    assert result.exit_code == 0, result.output
    assert "parameters:" not in result.output  # no "model: the table's [1]", no "parameters: 0"
    assert "not a Torch7 nn model" in result.output
    refused = CliRunner().invoke(cli, [str(tmp_path / "map.t7"), "-o", str(tmp_path / "map.pth")])
    assert refused.exit_code == 2 and "not a Torch7 nn model" in refused.output


def test_inspect_lists_every_model_of_a_checkpoint_table_with_the_one_convert_takes(tmp_path):
    table = {"model": tm.sequential(_linear(1)), "best_model": tm.sequential(_linear(2)), "opt": {"lr": 0.1},
             "criterion": tm.module("nn.ClassNLLCriterion")}
    t7convert.write(tmp_path / "dqn.t7", table)
    out = _inspect(tmp_path / "dqn.t7").output
    assert "models: 2" in out
    assert "model: nn.Sequential, 15 parameters (convert's default)" in out
    assert "best_model: nn.Sequential, 15 parameters (--key best_model)" in out
    assert "criterion: nn.ClassNLLCriterion" not in out.split("models: 2")[1].split("model: the table")[0]
    listed = json.loads(_inspect(tmp_path / "dqn.t7", "--json").output)["models"]
    assert [(m["key"], m["default"]) for m in listed] == [("best_model", False), ("model", True)]


@pytest.mark.slow
def test_inspect_lists_seq2seq_attn_models_by_name_and_convert_takes_the_decoder(tmp_path):
    encoder, decoder, generator = tm.sequential(_linear(3)), tm.sequential(_linear(4, 3, 3)), tm.sequential(_linear(5, 3, 5))
    t7convert.write(tmp_path / "s2s.t7", T7List([T7List([encoder, decoder, generator]), {"rnn_size": 3}]))
    out = _inspect(tmp_path / "s2s.t7").output
    assert "models: 3" in out and "encoder at 1.1: nn.Sequential" in out
    assert "generator at 1.3: nn.Sequential, 20 parameters (--key generator)" in out
    assert "decoder at 1.2: nn.Sequential, 12 parameters (convert's default)" in out
    for key in ("generator", "1.3"):
        converted = CliRunner().invoke(cli, [str(tmp_path / "s2s.t7"), "-o", str(tmp_path / "g.pth"), "--key", key,
                                             "--force"])
        assert converted.exit_code == 0, converted.output


def test_inspect_names_the_architecture_convert_recognises(tmp_path):
    from t7convert.torch7.synth import synthesize
    t7convert.write(tmp_path / "r.t7", synthesize("resnext_tiny"))
    out = _inspect(tmp_path / "r.t7").output
    assert "recognised: ResNeXt-14 32x1d, torchvision layout (what convert writes)" in out
    t7convert.write(tmp_path / "x.t7", tm.sequential(tm.module("nn.NoSuchLayer")))
    assert "convert would refuse it:" in _inspect(tmp_path / "x.t7").output


@pytest.mark.slow
def test_inspect_describes_a_converted_pth_and_safetensors_file_instead_of_refusing_it(tmp_path):
    from t7convert.torch7.synth import synthesize
    t7convert.write(tmp_path / "r.t7", synthesize("resnext_tiny"))
    api.convert(str(tmp_path / "r.t7"), str(tmp_path / "r.pth"), verify=False)
    canonical = _inspect(tmp_path / "r.pth")
    assert canonical.exit_code == 0, canonical.output
    assert "bare torchvision-layout state_dict" in canonical.output and "ResNeXt-14 32x1d" in canonical.output
    api.convert(str(tmp_path / "r.t7"), str(tmp_path / "g.safetensors"), generic=True)
    generic = _inspect(tmp_path / "g.safetensors")
    assert generic.exit_code == 0, generic.output
    assert "written by t7convert" in generic.output and "provenance: t7convert" in generic.output
    assert "from r.t7" in generic.output and "data config:" in generic.output
    described = json.loads(_inspect(tmp_path / "g.safetensors", "--json").output)
    assert described["kind"] == "generic" and described["source"] == "r.t7" and described["data_config"]


def test_a_stream_of_top_level_objects_is_read_as_torch7_does_and_all_on_request(tmp_path):
    shared = np.arange(6, dtype=np.int32)
    objects = [T7List([shared, np.ones(2, np.int32)]), T7List([shared[:3], np.zeros(1, np.int32)]), 7.0]
    path = tmp_path / "examples.t7"
    path.write_bytes(dumps_stream(objects, encoding="ascii"))
    first = t7convert.read(path)  # torch.load's answer: the first object
    assert isinstance(first, list) and np.array_equal(first[0], shared)
    every = t7convert.read(path, all=True)
    assert len(every) == 3 and every[2] == 7.0 and np.array_equal(every[1][0], shared[:3])
    out = _inspect(path).output
    assert "a stream of 3 top-level objects" in out and "reads the first" in out
    cut = tmp_path / "cut.t7"
    cut.write_bytes(path.read_bytes()[:-3])  # the last object cut short: the others still read
    assert len(t7convert.read(cut, all=True)) == 2
    assert "object 3, from byte" in _inspect(cut).output
    binary = tmp_path / "binary.t7"
    binary.write_bytes(dumps_stream(objects))
    assert len(t7convert.read(binary, all=True)) == 3 and np.array_equal(t7convert.read(binary)[0], shared)
    garbage = tmp_path / "garbage.t7"
    garbage.write_bytes(t7convert.torch7.format.dumps({"a": 1}) + b"\x00")
    assert "trailing garbage" in _inspect(garbage).output


def test_inspect_of_someone_elses_torch_save_named_t7_says_what_it_is(tmp_path):
    import torch
    torch.save({"encoder.weight": torch.zeros(2, 2)}, tmp_path / "model.t7")
    result = _inspect(tmp_path / "model.t7")
    assert result.exit_code == 2
    assert "t7convert did not write" in result.output and "not a Torch7 file" in result.output
    assert "torch.load(path, weights_only=True)" in result.output
