"""What goes into a model: the input found from the file, in its order of sources, spoken by every
command in one grammar (``InputSpec``: ``784``, ``96x1``, ``3x32x32``, ``{13, 128x3}``, ``idx[1..90] x 50``)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch7_models as tm
from click.testing import CliRunner
from nngraph_models import Graph

import t7convert
from t7convert import api
from t7convert.cli import cli
from t7convert.common.errors import T7ConvertError
from t7convert.conversion.data_config import input_of_config
from t7convert.conversion.input_spec import InputSpec, InputSpecError, as_spec, from_size_option, parse
from t7convert.conversion.model import convert_file
from t7convert.pytorch import input_shape as found
from t7convert.torch7.format import T7Object

M = tm.module


def _f32(rng: np.random.Generator, *shape: int, scale: float = 0.3) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _linear(rng, n_in: int, n_out: int) -> T7Object:
    return M("nn.Linear", weight=_f32(rng, n_out, n_in), bias=_f32(rng, n_out))


def _temporal(rng, n_in: int, n_out: int, kw: int, dw: int = 1) -> T7Object:
    return M("nn.TemporalConvolution", inputFrameSize=n_in, outputFrameSize=n_out, kW=kw, dW=dw,
             weight=_f32(rng, n_out, kw * n_in), bias=_f32(rng, n_out))


def _conv(rng, n_in: int, n_out: int, k: int, d: int = 1, pad: int = 0) -> T7Object:
    return M("nn.SpatialConvolution", nInputPlane=n_in, nOutputPlane=n_out, kW=k, kH=k, dW=d, dH=d, padW=pad,
             padH=pad, weight=_f32(rng, n_out, n_in, k, k), bias=_f32(rng, n_out))


def _save(tmp_path, name: str, model: T7Object) -> str:
    path = str(tmp_path / f"{name}.t7")
    t7convert.write(path, model)
    return path


def _sleep_staging(rng, *, kept: bool) -> T7Object:
    """JerryTom121/SleepStaging's shape of model: a ParallelTable of a Linear (13 features) and two
    TemporalConvolutions over 128 frames of 3, joined along dimension 1: it takes one sample only."""
    model = tm.sequential(
        M("nn.ParallelTable", modules=[
            tm.sequential(_linear(rng, 13, 5), M("nn.ReLU", threshold=0, val=0, inplace=False), tm.view(-1)),
            tm.sequential(_temporal(rng, 3, 4, 20), M("nn.ReLU", threshold=0, val=0, inplace=False),
                          _temporal(rng, 4, 2, 10), tm.view(200))]),
        M("nn.JoinTable", dimension=1), _linear(rng, 205, 2), M("nn.LogSoftMax"))
    if kept:  # saved without clearState: the gradInput of the last sample it saw
        model.fields["gradInput"] = [np.zeros(13, np.float32), np.zeros((128, 3), np.float32)]
    return model


# --- the spec itself --------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["784", "96x1", "3x32x32", "{13, 128x3}", "idx[1..90] x 50", "idx[1..90]",
                                  "{3x32x32, 13}", "{idx[1..43], {24, 24}}", "byte idx[0..1] x 5",
                                  "float idx[1..65] x 2x3", "double 4x4", "()"])
def test_every_form_of_the_input_grammar_round_trips_through_text_and_json(text):
    spec = parse(text)
    assert str(spec) == text
    assert parse(str(spec)) == spec
    resolved = spec.with_batched(False)
    assert InputSpec.from_json(json.loads(json.dumps(resolved.to_json()))) == resolved


@pytest.mark.parametrize("text", ["", "3x", "x3", "{3, 4", "{}", "3x0x2", "idx[5..1] x 3", "3,4;5", "{3 4}",
                                  "idx[1..9] x", "long", "3x3x3x3x3x3x3x3x3", "{" * 40 + "3" + "}" * 40])
def test_a_malformed_input_is_one_input_error(text):
    with pytest.raises(InputSpecError):
        parse(text)


def test_the_input_size_alias_keeps_its_meaning():
    assert from_size_option("32") == InputSpec.tensor(3, 32, 32)
    assert from_size_option("1,28,28") == InputSpec.tensor(1, 28, 28)
    assert as_spec((3, 8, 8)) == InputSpec.tensor(3, 8, 8)
    assert as_spec([(5,), (4,)]) == InputSpec.table(InputSpec.tensor(5), InputSpec.tensor(4))
    assert as_spec("{13, 128x3}").is_table


def test_a_seeded_draw_is_reproducible_and_follows_the_spec():
    spec = InputSpec.table(InputSpec.index(1, 90, 5), InputSpec.tensor(13, batched=False))
    a, b = spec.draw(batch=2, seed=3), spec.draw(batch=2, seed=3)
    assert a[0].shape == (2, 5) and a[0].dtype == np.int64 and a[0].min() >= 1 and a[0].max() <= 90
    assert a[1].shape == (13,) and a[1].dtype == np.float32
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert str(spec) == "{idx[1..90] x 5, 13}"


def test_a_stored_spec_that_is_not_one_is_refused():
    for bad in ({"shape": [3, -1]}, {"shape": "3x3"}, {"table": 3}, {"shape": [2], "low": 3, "high": 1}, [1]):
        with pytest.raises(InputSpecError):
            InputSpec.from_json(bad)


# --- 1. what the file remembers ----------------------------------------------------------------------
def test_a_kept_gradinput_of_unbatched_samples_decides_a_table_input(tmp_path):
    rng = np.random.default_rng(0)
    path = _save(tmp_path, "sleep", _sleep_staging(rng, kept=True))
    got = found.find_input(convert_file(path))
    assert str(got.spec) == "{13, 128x3}" and got.spec.with_batched(False) == got.spec
    assert got.source == found.FROM_MEMORY
    report = api.convert(path, str(tmp_path / "sleep.pth"))
    assert report.verification.ok and str(report.input) == "{13, 128x3}"
    assert t7convert.load(str(tmp_path / "sleep.pth")).data_config["input"] == got.spec


def test_a_kept_gradinput_of_a_batch_gives_the_sample_shape(tmp_path):
    rng = np.random.default_rng(1)
    model = tm.sequential(tm.view(784), _linear(rng, 784, 10))
    model.fields["gradInput"] = np.zeros((128, 28, 28), np.float32)
    got = found.find_input(convert_file(_save(tmp_path, "mlp", model)))
    assert got.spec == InputSpec.tensor(28, 28) and got.source == found.FROM_MEMORY


def test_a_kept_gradinput_of_one_sequence_is_taken_whole(tmp_path):
    rng = np.random.default_rng(2)
    model = tm.sequential(_temporal(rng, 1, 4, 5), M("nn.Tanh"), M("nn.TemporalMaxPooling", kW=4, dW=4),
                          tm.view(92), _linear(rng, 92, 2))
    model.fields["gradInput"] = np.zeros((96, 1), np.float32)
    path = _save(tmp_path, "series", model)
    got = found.find_input(convert_file(path))
    assert got.spec == InputSpec.tensor(96, 1, batched=False) and got.source == found.FROM_MEMORY
    assert api.convert(path, None).verification.ok


def test_a_kept_gradinput_of_indices_keeps_the_range_the_lookup_table_declares(tmp_path):
    rng = np.random.default_rng(16)
    lookup = M("nn.LookupTable", weight=_f32(rng, 10, 4), paddingValue=0, shouldScaleGradByFreq=False)
    model = tm.sequential(lookup, M("nn.Sum", dimension=1, nInputDims=2, sizeAverage=False), _linear(rng, 4, 2))
    model.fields["gradInput"] = np.zeros((8, 5), np.float32)
    path = _save(tmp_path, "bag", model)
    got = found.find_input(convert_file(path))
    assert str(got.spec).endswith("idx[1..10] x 5") and got.spec.batched and got.source == found.FROM_MEMORY
    assert api.convert(path, None).verification.ok


# --- 2. what the checkpoint's options say -------------------------------------------------------------
def test_char_rnn_state_inputs_come_from_the_checkpoint_options(tmp_path):
    """prev_c meets a CMulTable first: no layer says its size; char-rnn's opt.rnn_size does."""
    from t7convert.torch7.format.values import T7Table
    rng = np.random.default_rng(3)
    g = Graph()
    x, prev_c = g.input(), g.input()
    a = g.node(_linear(rng, 7, 6), g.node(M("OneHot", outputSize=7, _eye=np.eye(7)), x))
    c = g.node(M("nn.CMulTable"), a, prev_c)
    out = g.node(M("nn.LogSoftMax"), g.node(_linear(rng, 6, 7), c))
    rnn = g.module([x, prev_c], [c, out])
    chars = "abcdefg"
    checkpoint = T7Table(protos=T7Table(rnn=rnn), opt=T7Table(model="lstm", num_layers=1, rnn_size=6, seq_length=5),
                         vocab=T7Table({ch: i for i, ch in enumerate(chars, 1)}))
    path = _save(tmp_path, "lm", checkpoint)
    got = found.find_input(convert_file(path))
    assert str(got.spec) == "{float idx[1..7], 6}" and got.source == found.FROM_OPTIONS
    assert api.convert(path, None).verification.ok


# --- 3. what the layers imply, through the DAG -------------------------------------------------------
def test_a_view_after_convolutions_fixes_the_image_size_behind_a_padding(tmp_path):
    rng = np.random.default_rng(4)
    model = tm.sequential(M("nn.SpatialZeroPadding", pad_l=2, pad_r=2, pad_t=2, pad_b=2),
                          _conv(rng, 1, 4, 5, d=2), M("nn.ReLU", threshold=0, val=0, inplace=False),
                          tm.maxpool(2, 2, 2, 2), _conv(rng, 4, 3, 5), tm.maxpool(6, 6, 6, 6), tm.view(3),
                          _linear(rng, 3, 2))
    path = _save(tmp_path, "course", model)
    got = found.find_input(convert_file(path))
    assert got.spec.shape[0] == 1 and len(got.spec.shape) == 3  # one plane: the conv behind the padding says so
    assert api.convert(path, None).verification.ok


@pytest.mark.parametrize("name, build, rank", [
    ("normalize", lambda rng: M("nn.Normalize", p=2.0, eps=1e-10), 1),
    ("cmul-whole-sample", lambda rng: tm.sequential(M("nn.CMul", weight=_f32(rng, 3, 5), size=np.array([3, 5])),
                                                   M("nn.Tanh")), 2),
    ("pixelshuffle", lambda rng: M("nn.PixelShuffle", upscaleFactor=2, upscaleFactorSquared=4), 3),
    ("volumetric-bn", lambda rng: M("nn.VolumetricBatchNormalization", eps=1e-5, momentum=0.1, affine=False,
                                    running_mean=_f32(rng, 2), running_var=np.ones(2, np.float32)), 4),
    ("temporal", lambda rng: tm.sequential(_temporal(rng, 6, 4, 3), M("nn.Tanh")), 2),
    ("pointwise", lambda rng: tm.sequential(M("nn.Tanh"), M("nn.Sigmoid")), 3),
    ("concattable-nest", lambda rng: M("nn.ConcatTable", modules=[
        M("nn.ConcatTable", modules=[_linear(rng, 4, 2), M("nn.Identity")]), _linear(rng, 4, 3)]), 1),
])
def test_models_whose_first_layer_says_little_are_found_and_verified(tmp_path, name, build, rank):
    rng = np.random.default_rng(5)
    path = _save(tmp_path, name, build(rng))
    report = api.convert(path, str(tmp_path / f"{name}.pth"))
    assert report.verification.ok
    assert len(report.input.shape) == rank
    stored = t7convert.load(str(tmp_path / f"{name}.pth")).data_config["input"]
    assert stored == report.input


def test_a_gmodule_with_a_nested_table_input_is_found_from_what_it_kept(tmp_path):
    rng = np.random.default_rng(6)
    g = Graph()
    x, pair = g.input(), g.input()
    h = g.node(_linear(rng, 5, 3), x)
    a, b = g.split(pair, 2)
    s = g.node(M("nn.CAddTable", inplace=False), a, b)
    out = g.node(M("nn.CAddTable", inplace=False), h, s)
    model = g.module([x, pair], [out])
    model.fields["gradInput"] = [np.zeros((2, 5), np.float32), [np.zeros((2, 3), np.float32)] * 2]
    path = _save(tmp_path, "nested", model)
    got = found.find_input(convert_file(path))
    assert str(got.spec) == "{5, {3, 3}}" and got.source == found.FROM_MEMORY
    assert api.convert(path, None).verification.ok


# --- 4. free sizes: every kernel tap --------------------------------------------------------------------
def test_a_fully_convolutional_net_gets_the_smallest_size_exercising_every_tap(tmp_path):
    rng = np.random.default_rng(7)
    model = tm.sequential(_conv(rng, 3, 4, 3, pad=1), M("nn.ReLU", threshold=0, val=0, inplace=False),
                          _conv(rng, 4, 2, 5, d=2, pad=2))
    got = found.find_input(convert_file(_save(tmp_path, "fcn", model)))
    assert got.source == found.FROM_TAPS
    assert got.spec.shape == (3, 5, 5)  # the second kernel is 5 wide; a padded 3x3 alone would take 4


def test_when_nothing_decides_the_refusal_is_one_line_naming_what_to_give(tmp_path):
    rng = np.random.default_rng(8)
    model = tm.sequential(_linear(rng, 5, 3), _linear(rng, 4, 2))  # no input gets through both
    path = _save(tmp_path, "impossible", model)
    result = CliRunner().invoke(cli, [path, "-o", str(tmp_path / "x.pth")])
    assert result.exit_code == 2
    last = result.output.strip().splitlines()[-1]
    assert "--input" in last and "Traceback" not in result.output


# --- spoken by every command ----------------------------------------------------------------------------
def test_the_cli_and_the_api_take_the_table_input_of_a_model_that_takes_one_sample(tmp_path):
    rng = np.random.default_rng(9)
    path = _save(tmp_path, "sleep", _sleep_staging(rng, kept=False))
    result = CliRunner().invoke(cli, [path, "-o", str(tmp_path / "a.pth"), "--input", "{13, 128x3}"])
    assert result.exit_code == 0, result.output
    assert "{13, 128x3}" in result.output
    report = api.convert(path, None, input=parse("{13, 128x3}"))
    assert report.verification.ok and report.input.leaves().__next__().batched is False
    run = api.parity(path, input="{13, 128x3}")
    assert run.ok


def test_a_malformed_input_option_is_one_line_and_exit_2(tmp_path):
    rng = np.random.default_rng(10)
    path = _save(tmp_path, "lin", tm.sequential(_linear(rng, 4, 2)))
    for args in (["--input", "{3, 4"], ["--input", "3xx4"], ["--input-size", "a,b"]):
        result = CliRunner().invoke(cli, [path, "-o", str(tmp_path / "y.pth"), *args])
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_t7_and_its_converted_file_give_the_same_input_back(tmp_path):
    rng = np.random.default_rng(11)
    path = _save(tmp_path, "mlp", tm.sequential(_linear(rng, 6, 3), M("nn.Tanh")))
    api.convert(path, str(tmp_path / "mlp.pth"))
    from_t7 = t7convert.load(path).data_config["input"]
    from_pth = t7convert.load(str(tmp_path / "mlp.pth")).data_config["input"]
    assert from_t7 == from_pth == InputSpec.tensor(6)


def test_files_of_earlier_versions_still_say_their_input():
    assert input_of_config({"input_size": [3, 32, 32]}) == InputSpec.tensor(3, 32, 32)
    assert input_of_config({"input_table": [[5], [4]]}) == InputSpec.table(InputSpec.tensor(5), InputSpec.tensor(4))
    assert input_of_config({}) is None


def test_parity_image_refuses_a_model_that_takes_no_image_in_one_line(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(12)
    image = tmp_path / "cat.png"
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(image)
    path = _save(tmp_path, "mlp", tm.sequential(_linear(rng, 6, 3)))
    with pytest.raises(T7ConvertError, match="takes 6 .*not 3-channel images"):
        api.parity(path, image=str(image))


def test_parity_image_preprocesses_to_the_size_a_model_takes(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(13)
    image = tmp_path / "cat.png"
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(image)
    model = tm.sequential(_conv(rng, 3, 2, 3), tm.view(2 * 30 * 30), _linear(rng, 1800, 4))
    path = _save(tmp_path, "small", model)
    run = api.parity(path, image=str(image))
    assert run.ok and tuple(run.shape) == (1, 3, 32, 32)


def _image(tmp_path, rng) -> str:
    from PIL import Image
    path = tmp_path / "cat.png"
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_classify_preprocesses_to_the_size_a_cifar_model_takes(tmp_path):
    from t7convert.torch7.synth import synthesize_file
    rng = np.random.default_rng(14)
    path = str(tmp_path / "cifar.t7")
    synthesize_file("resnext_cifar_tiny", path)
    model = t7convert.load(path)
    assert model.data_config["input"] == InputSpec.tensor(3, 32, 32)
    seen = []
    model.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    result = CliRunner().invoke(cli, ["classify", path, _image(tmp_path, rng)])
    assert result.exit_code == 0, result.output
    from t7convert.imagenet.classify import classify
    classify(model, [_image(tmp_path, rng)])
    assert seen == [(1, 3, 32, 32)]


@pytest.mark.parametrize("build", [
    lambda rng: tm.sequential(_conv(rng, 1, 2, 3), tm.view(2 * 30 * 30), _linear(rng, 1800, 4)),  # 1x32x32
    lambda rng: tm.sequential(_linear(rng, 6, 3)),                                                # a vector
])
def test_classify_and_evaluate_refuse_a_model_that_takes_no_image_in_one_line(tmp_path, build):
    rng = np.random.default_rng(15)
    path = _save(tmp_path, "m", build(rng))
    result = CliRunner().invoke(cli, ["classify", path, _image(tmp_path, rng)])
    assert result.exit_code == 2, result.output
    assert "not 3-channel images" in result.output and "Traceback" not in result.output
    from t7convert.imagenet.evaluate import evaluate
    with pytest.raises(T7ConvertError, match="this model takes"):
        evaluate(t7convert.load(path), str(tmp_path))


def test_a_table_of_images_at_several_scales_is_found(tmp_path):
    """texture_nets' generators take noise at several scales: each branch upsamples to the next."""
    rng = np.random.default_rng(17)
    up = M("nn.SpatialUpSamplingNearest", scale_factor=2)
    model = tm.sequential(
        M("nn.ParallelTable", modules=[tm.sequential(_conv(rng, 3, 2, 3, pad=1), up), _conv(rng, 3, 2, 3, pad=1)]),
        M("nn.JoinTable", dimension=2, nInputDims=3))
    path = _save(tmp_path, "pyramid", model)
    report = api.convert(path, None)
    assert report.verification.ok
    small, large = report.input.items
    assert large.shape[1] == 2 * small.shape[1]


def test_without_a_kept_input_the_layers_fix_a_table_of_one_sample(tmp_path):
    """The same model saved after clearState: the View(200) after the two temporal convolutions fixes
    128 frames, the JoinTable(1) of a vector and a vector one sample only."""
    rng = np.random.default_rng(18)
    got = found.find_input(convert_file(_save(tmp_path, "sleep", _sleep_staging(rng, kept=False))))
    assert str(got.spec) == "{13, 128x3}" and got.spec == got.spec.with_batched(False)
    assert got.source == found.FROM_LAYERS


GRAMMAR = ["784", "96x1", "3x32x32", "{13, 128x3}", "idx[1..90] x 50", "idx[1..90]", "{3x32x32, 13}",
           "{idx[1..43], {24, 24}}", "byte idx[0..1] x 5", "float idx[1..65] x 2x3", "double 4x4"]
MALFORMED = ["3x", "x3", "{3, 4", "{}", "3x0x2", "idx[5..1] x 3", "3,4;5", "{3 4}", "idx[1..9] x", "long"]


def test_dump_reference_lua_reads_the_same_input_grammar(tmp_path):
    """DUMP_INPUT takes what --input takes: the script's parser, run by a Lua interpreter, reads every
    form to the same structure and refuses the same malformed ones."""
    import re
    import shutil
    import subprocess
    from pathlib import Path
    lua = shutil.which("luajit") or shutil.which("lua5.1") or shutil.which("lua")
    if lua is None:
        pytest.skip("no Lua interpreter here (apt install luajit to check reference/dump_reference.lua)")
    script = (Path(__file__).resolve().parent.parent / "reference" / "dump_reference.lua").read_text()
    parser = re.search(r"^local function parseInput\(text\)\n.*?^end\n", script, re.S | re.M).group(0)
    show = '''
local function show(s)
   if s.items then local t = {} for i, v in ipairs(s.items) do t[i] = show(v) end return '{' .. table.concat(t, ', ') .. '}' end
   local d = table.concat(s.sizes, 'x')
   if s.low then
      local prefix = s.dtype ~= 'long' and s.dtype .. ' ' or ''
      return prefix .. 'idx[' .. s.low .. '..' .. s.high .. ']' .. (d ~= '' and ' x ' .. d or '')
   end
   return (s.dtype ~= 'float' and s.dtype .. ' ' or '') .. d
end
for line in io.lines(arg[1]) do
   local s = parseInput(line)
   print(s and show(s) or 'REFUSED')
end
'''
    (tmp_path / "p.lua").write_text(parser + show)
    (tmp_path / "in.txt").write_text("\n".join(GRAMMAR + MALFORMED) + "\n")
    out = subprocess.run([lua, str(tmp_path / "p.lua"), str(tmp_path / "in.txt")], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[:len(GRAMMAR)] == [str(parse(t)) for t in GRAMMAR]
    assert out[len(GRAMMAR):] == ["REFUSED"] * len(MALFORMED)


def test_a_classifier_fixing_a_common_size_is_found_at_that_size(tmp_path):
    rng = np.random.default_rng(19)
    model = tm.sequential(_conv(rng, 3, 2, 5), M("nn.ReLU", threshold=0, val=0, inplace=False),
                          tm.view(2 * 92 * 92), _linear(rng, 2 * 92 * 92, 3))
    got = found.find_input(convert_file(_save(tmp_path, "fixed96", model)))
    assert got.spec == InputSpec.tensor(3, 96, 96) and got.source == found.FROM_LAYERS


def test_plain_sizes_given_to_an_index_model_are_indices_in_its_range(tmp_path):
    rng = np.random.default_rng(20)
    lookup = M("nn.LookupTable", weight=_f32(rng, 10, 4), paddingValue=0, shouldScaleGradByFreq=False)
    path = _save(tmp_path, "emb", lookup)
    report = api.convert(path, None, input="7")
    assert report.verification.ok and str(report.input).endswith("idx[1..10] x 7")
