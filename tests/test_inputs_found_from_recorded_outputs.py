"""The input found from the outputs a file recorded: a module saved without ``clearState()`` keeps the
``output`` of its last forward pass (the root's and every inner module's), and the input whose shape-only
run reproduces all of them is the one Torch7 last ran the model on. A file without them (clearState), or
with outputs no input reproduces, gets the input today's sources find; a hostile recorded shape costs
nothing."""
from __future__ import annotations

import numpy as np
import pytest
import torch7_models as tm

import t7convert
from t7convert import api
from t7convert.conversion.input_spec import InputSpec
from t7convert.conversion.model import convert_file
from t7convert.pytorch import input_shape as found
from t7convert.torch7.format import T7Object

M = tm.module


def _f32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return (rng.standard_normal(shape) * 0.3).astype(np.float32)


def _linear(rng: np.random.Generator, n_in: int, n_out: int) -> T7Object:
    return M("nn.Linear", weight=_f32(rng, n_out, n_in), bias=_f32(rng, n_out))


def _conv(rng: np.random.Generator, n_in: int, n_out: int, k: int, pad: int = 0) -> T7Object:
    return M("nn.SpatialConvolution", nInputPlane=n_in, nOutputPlane=n_out, kW=k, kH=k, dW=1, dH=1, padW=pad,
             padH=pad, weight=_f32(rng, n_out, n_in, k, k), bias=_f32(rng, n_out))


def _recorded(module: T7Object, *shape: int) -> T7Object:
    """``module`` as Torch7 leaves it after a forward pass that gave an output of ``shape``."""
    module.fields["output"] = np.zeros(shape, np.float32)
    return module


def _save(tmp_path, name: str, model: T7Object) -> str:
    path = str(tmp_path / f"{name}.t7")
    t7convert.write(path, model)
    return path


def _pointwise(*, recorded: bool) -> T7Object:
    """A Sequential of Abs and Tanh that last ran on a batch of 2 vectors of 5 (or was cleared)."""
    model = tm.sequential(M("nn.Abs"), M("nn.Tanh"))
    if recorded:
        for m in (model, *model.fields["modules"]):
            _recorded(m, 2, 5)
    return model


def test_the_recorded_outputs_give_the_rank_and_sizes_a_pointwise_model_last_ran_on(tmp_path):
    path = _save(tmp_path, "pointwise", _pointwise(recorded=True))
    got = found.find_input(convert_file(path))
    assert got.spec == InputSpec.tensor(5) and got.source == found.FROM_OUTPUTS
    report = api.convert(path, str(tmp_path / "pointwise.pth"))
    assert report.verification.ok and report.input == InputSpec.tensor(5)
    assert report.input_source == found.FROM_OUTPUTS
    assert t7convert.load(str(tmp_path / "pointwise.pth")).data_config["input"] == got.spec


def test_a_cleared_model_gets_the_input_it_got_before(tmp_path):
    got = found.find_input(convert_file(_save(tmp_path, "cleared", _pointwise(recorded=False))))
    assert got.source != found.FROM_OUTPUTS and len(got.spec.shape) == 3  # today's small image


def test_the_summary_names_the_recorded_outputs(tmp_path):
    from click.testing import CliRunner

    from t7convert.cli import cli
    path = _save(tmp_path, "pointwise", _pointwise(recorded=True))
    result = CliRunner().invoke(cli, [path, "-o", str(tmp_path / "pointwise.pth")])
    assert result.exit_code == 0, result.output
    assert "input: 5 (batch of 1), from the outputs the file recorded (Torch7's last forward)" in result.output


def test_a_padding_is_undone_by_searching_the_size_that_gives_the_recorded_output(tmp_path):
    """nn.Padding adds 2 to the second dimension: a recorded 2x7 was a batch of 2 vectors of 5."""
    model = _recorded(M("nn.Padding", dim=1, pad=2, nInputDim=1, value=0.5, index=1), 2, 7)
    path = _save(tmp_path, "padding", model)
    got = found.find_input(convert_file(path))
    assert got.spec == InputSpec.tensor(5) and got.source == found.FROM_OUTPUTS
    assert api.convert(path, None).verification.ok


def test_every_stage_must_agree_so_the_inner_outputs_decide_what_the_root_leaves_open(tmp_path):
    """An adaptive pooling gives 2x4x3x3 whatever the image; the convolution before it kept 2x4x9x9, so
    the images were 11x11 (3x3 kernel, no padding)."""
    rng = np.random.default_rng(7)
    conv = _recorded(_conv(rng, 3, 4, 3), 2, 4, 9, 9)
    pool = _recorded(M("nn.SpatialAdaptiveMaxPooling", W=3, H=3), 2, 4, 3, 3)
    model = _recorded(tm.sequential(conv, pool), 2, 4, 3, 3)
    path = _save(tmp_path, "adaptive", model)
    got = found.find_input(convert_file(path))
    assert got.spec == InputSpec.tensor(3, 11, 11) and got.source == found.FROM_OUTPUTS
    assert api.convert(path, None).verification.ok


def test_a_recorded_table_of_outputs_gives_the_table_length(tmp_path):
    """A MapTable that last mapped 3 inputs of 2x4 through its Linear(4, 3) recorded a table of 3 outputs."""
    rng = np.random.default_rng(8)
    linear = _linear(rng, 4, 3)
    clones = [M("nn.Linear", weight=linear.fields["weight"], bias=linear.fields["bias"]) for _ in range(2)]
    model = M("nn.MapTable", module=linear, modules=[linear, *clones])
    model.fields["output"] = [np.zeros((2, 3), np.float32) for _ in range(3)]
    path = _save(tmp_path, "maptable", model)
    got = found.find_input(convert_file(path))
    assert str(got.spec) == "{4, 4, 4}" and got.spec.batched and got.source == found.FROM_OUTPUTS
    assert api.convert(path, None).verification.ok


def test_a_recorded_large_batch_is_verified_per_sample(tmp_path):
    """A net that last ran on 128 images of 3x10x10 is verified on a small batch of 3x10x10 images."""
    rng = np.random.default_rng(9)
    conv = _recorded(_conv(rng, 3, 2, 3), 128, 2, 8, 8)
    model = _recorded(tm.sequential(conv, M("nn.ReLU", threshold=0, val=0, inplace=False)), 128, 2, 8, 8)
    path = _save(tmp_path, "batch128", model)
    got = found.find_input(convert_file(path))
    assert got.spec == InputSpec.tensor(3, 10, 10) and got.spec.batched and got.source == found.FROM_OUTPUTS
    report = api.convert(path, None)
    assert report.verification.ok and report.input == got.spec


@pytest.mark.parametrize("name, output", [
    ("wrong-size", (2, 7)),          # a Linear(4, 3) gives 3 features, never 7
    ("wrong-rank", (2, 3, 5, 5)),     # nor images
    ("table", [(2, 3), (2, 3)]),      # nor a table
])
def test_a_recorded_output_the_model_cannot_give_is_ignored(tmp_path, name, output):
    rng = np.random.default_rng(10)
    model = tm.sequential(_linear(rng, 4, 3), M("nn.Tanh"))
    model.fields["output"] = ([np.zeros(s, np.float32) for s in output] if isinstance(output, list)
                              else np.zeros(output, np.float32))
    path = _save(tmp_path, name, model)
    got = found.find_input(convert_file(path))
    assert got.spec == InputSpec.tensor(4) and got.source == found.FROM_LAYERS
    assert api.convert(path, None).verification.ok


def test_a_stage_that_contradicts_the_root_makes_the_outputs_no_evidence(tmp_path):
    model = _pointwise(recorded=True)
    _recorded(model.fields["modules"][1], 3, 9)  # the Tanh kept another forward's output
    got = found.find_input(convert_file(_save(tmp_path, "contradicts", model)))
    assert got.source != found.FROM_OUTPUTS


def test_hostile_recorded_shapes_are_never_tried_or_returned(tmp_path):
    """Shapes of a billion elements (a zero-stride view: no memory here) or of 9 dimensions: the finder
    never returns an input larger than its bound, and falls back to today's sources."""
    converted = convert_file(_save(tmp_path, "pointwise", _pointwise(recorded=True)))
    for shape in ((2, 1 << 30), (1 << 20, 1 << 12), (1,) * 9, (4000,) * 4, (2, 4096, 4096, 4096)):
        huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=shape, strides=(0,) * len(shape))
        for m in (converted.t7_model, *converted.t7_model.fields["modules"]):
            m.fields["output"] = huge
        got = found.find_input(converted)
        assert got.source != found.FROM_OUTPUTS or got.spec.elements(1) <= found._MAX_ELEMENTS
        assert got.spec.elements(1) <= found._MAX_ELEMENTS


def test_a_kept_gradinput_that_contradicts_the_recorded_outputs_gives_way_to_them(tmp_path):
    """The gradInput of a backward over one sample of 5, then a forward over a batch of 2: the forward is
    what Torch7 ran last, and the kept input is tried after it."""
    rng = np.random.default_rng(11)
    model = _recorded(_linear(rng, 5, 3), 2, 3)
    model.fields["gradInput"] = np.zeros(5, np.float32)
    path = _save(tmp_path, "euclid", model)
    got = list(found.input_candidates(convert_file(path)))
    assert got[0].spec == InputSpec.tensor(5) and got[0].source == found.FROM_OUTPUTS
    assert any(f.source == found.FROM_MEMORY for f in got[1:])
    assert api.convert(path, None).verification.ok
