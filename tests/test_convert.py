"""Converting Torch7 models: the user's journeys with `t7convert FILE.t7 -o model.pth` and t7convert.load.

Correctness is checked two ways: against outputs computed by real Torch7 (the shared fixtures), and, for
each layer family on small models written with t7convert's writer, against the independent reference
execution of the Torch7 graph (t7convert.interpreter), which shares no code with the converters.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch7_models as tm
from catalog_checks import rel
from click.testing import CliRunner

import t7convert
from t7convert import T7ConvertError, api
from t7convert.cli import cli
from t7convert.conversion import registry
from t7convert.conversion.model import convert_file
from t7convert.interpreter import run as reference_run

MODEL_FIXTURES = ["resnext11_c4x4d_C_cifar", "resnext11_c4x4d_B_cifar", "resnext_tiny_32x1d_C_imagenet",
                  "resnet_tiny_bottleneck_imagenet", "resnet20_cifar_shortcutA"]


def t7(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)



def converted_output(path, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return t7convert.load(str(path))(torch.from_numpy(x)).numpy()


# --- real Torch7 files ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", MODEL_FIXTURES)
def test_torch7_model_converts_and_reproduces_torch7s_output(torch7_fixtures, tmp_path, name):
    src = torch7_fixtures / "torch7" / "models" / f"{name}.t7"
    out = tmp_path / f"{name}.pth"
    result = t7(str(src), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output  # verified against the reference execution by default
    torch.load(out, weights_only=True)
    ref = t7convert.read(torch7_fixtures / "torch7" / "models" / f"{name}.ref.t7")
    assert rel(converted_output(out, np.array(ref["input"])), ref["output"]) <= 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["binary", "ascii", "long4"])
def test_every_serialization_variant_converts(torch7_fixtures, tmp_path, variant):
    src = torch7_fixtures / "torch7" / "formats" / f"model.{variant}.t7"
    out = tmp_path / "model.pth"
    assert t7(str(src), "-o", str(out)).exit_code == 0
    ref = t7convert.read(torch7_fixtures / "torch7" / "formats" / f"model.{variant}.ref.t7")
    assert rel(converted_output(out, np.array(ref["input"])), ref["output"]) <= 1e-5


@pytest.mark.slow
def test_form_b_and_form_c_resnext_give_the_same_torchvision_layout(torch7_fixtures, tmp_path):
    layouts = {}
    for form in "BC":
        out = tmp_path / f"{form}.pth"
        assert t7(str(torch7_fixtures / "torch7/models" / f"resnext11_c4x4d_{form}_cifar.t7"), "-o", str(out)).exit_code == 0
        layouts[form] = {k: tuple(v.shape) for k, v in torch.load(out, weights_only=True).items()}
    assert layouts["B"] == layouts["C"]
    assert layouts["B"]["layer1.0.conv2.weight"] == (16, 4, 3, 3)  # 4 groups of 4 channels


@pytest.mark.slow
def test_imagenet_resnext_summary_names_what_was_recognised_and_dropped(torch7_fixtures, tmp_path):
    out = tmp_path / "m.pth"
    result = t7(str(torch7_fixtures / "torch7/models/resnext_tiny_32x1d_C_imagenet.t7"), "-o", str(out), "--json")
    summary = json.loads(result.output)
    assert summary["kind"] == "canonical" and summary["title"].startswith("ResNeXt-14 32x1d")
    assert summary["parameters"] == 979288
    assert summary["dropped"]["gradWeight"] > 0
    assert summary["verification"]["ok"] is True


# --- the command line ----------------------------------------------------------------------------
@pytest.mark.slow
def test_an_existing_output_is_kept_unless_force(tmp_path):
    src = tm.save(tmp_path, "m", tm.sequential(tm.linear(4, 3)))
    out = tmp_path / "m.pth"
    out.write_bytes(b"precious")
    result = subprocess.run([sys.executable, "-m", "t7convert", str(src), "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "--force" in result.stderr and "Traceback" not in result.stderr
    assert out.read_bytes() == b"precious"
    assert t7(str(src), "-o", str(out), "--force").exit_code == 0
    torch.load(out, weights_only=True)


@pytest.mark.slow
def test_a_pytorch_checkpoint_named_t7_is_called_what_it_is(tmp_path):
    fake = tmp_path / "resnet.t7"
    torch.save({"w": torch.ones(2)}, fake)
    result = subprocess.run([sys.executable, "-m", "t7convert", str(fake), "-o", str(tmp_path / "x.pth")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "PyTorch checkpoint" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.pth").exists()


def test_an_unsupported_class_is_named_with_its_place_in_the_graph(tmp_path):
    src = tm.save(tmp_path, "m", tm.sequential(tm.linear(4, 3), tm.module("nn.NoSuchLayer")))
    with pytest.raises(T7ConvertError, match=r"nn\.NoSuchLayer at modules\[2\].*a plugin.*t7convert\.converters"):
        api.convert(str(src), str(tmp_path / "m.pth"))
    assert not (tmp_path / "m.pth").exists()


def test_a_wrong_conversion_fails_verification_and_writes_nothing(tmp_path, monkeypatch):
    """A converter that forgets Torch7's (W, H) order is caught by the reference execution."""
    model = tm.sequential(tm.conv(3, 4, kw=3, kh=5, pw=1, ph=2), tm.relu(), tm.view(-1, num_input_dims=3),
                          tm.linear(4 * 7 * 9, 2))
    src = tm.save(tmp_path, "m", model)
    good = registry.CONVERTERS.entries["cudnn.SpatialConvolution"]

    def transposed(m, ctx):
        node = good(m, ctx)
        node.tensors["weight"] = np.ascontiguousarray(node.tensors["weight"].transpose(0, 1, 3, 2))
        node.attrs["kernel_size"] = node.attrs["kernel_size"][::-1]
        node.attrs["padding"] = node.attrs["padding"][::-1]
        return node

    monkeypatch.setitem(registry.CONVERTERS.entries, "cudnn.SpatialConvolution", transposed)
    out = tmp_path / "m.pth"
    result = t7(str(src), "-o", str(out), "--input-size", "3,7,9")
    assert result.exit_code == 1
    assert "modules[1]" in result.output and "nothing was written" in result.output
    assert not out.exists()


@pytest.mark.slow
def test_safetensors_output_carries_its_architecture(torch7_fixtures, tmp_path):
    out = tmp_path / "m.safetensors"
    assert t7(str(torch7_fixtures / "torch7/models/resnet20_cifar_shortcutA.t7"), "-o", str(out)).exit_code == 0
    from safetensors import safe_open
    with safe_open(out, "pt") as f:
        info = json.loads(f.metadata()["t7convert"])
    assert info["kind"] == "generic"
    ref = t7convert.read(torch7_fixtures / "torch7/models/resnet20_cifar_shortcutA.ref.t7")
    assert rel(converted_output(out, np.array(ref["input"])), ref["output"]) <= 1e-5


@pytest.mark.slow
def test_generic_flag_keeps_torch7s_module_tree(torch7_fixtures, tmp_path):
    out = tmp_path / "g.pth"
    assert t7(str(torch7_fixtures / "torch7/models/resnext11_c4x4d_C_cifar.t7"), "-o", str(out), "--generic").exit_code == 0
    saved = torch.load(out, weights_only=True)
    assert saved["t7convert"]["kind"] == "generic"
    assert "m1.weight" in saved["state_dict"]  # the module at modules[1] of the Sequential


# --- layer semantics, each against the reference execution -------------------------------------
def check_against_reference(tmp_path: Path, model, x: np.ndarray, **convert_options) -> np.ndarray:
    src = tm.save(tmp_path, "m", model)
    report = api.convert(str(src), str(tmp_path / "m.pth"), input_shape=x.shape[1:], force=True, **convert_options)
    assert report.verification.ok, report.verification.summary()
    got = converted_output(tmp_path / "m.pth", x)
    want = reference_run(t7convert.read(src), x).output
    assert rel(got, want) <= 1e-5
    return got


def test_non_square_kernels_strides_and_padding_keep_width_and_height_apart(tmp_path):
    model = tm.sequential(tm.conv(3, 5, kw=2, kh=5, dw=1, dh=2, pw=1, ph=2), tm.relu())
    check_against_reference(tmp_path, model, tm.f32(2, 3, 9, 8))


def test_spatial_convolution_mm_with_2d_weights_from_old_files(tmp_path):
    c = tm.conv(3, 4, 3, 3, pw=1, ph=1, cls="nn.SpatialConvolutionMM")
    c.fields["weight"] = c.fields["weight"].reshape(4, 27)
    check_against_reference(tmp_path, tm.sequential(c), tm.f32(1, 3, 6, 6))


def test_grouped_cudnn_convolution_without_bias(tmp_path):
    check_against_reference(tmp_path, tm.sequential(tm.conv(8, 8, 3, 3, pw=1, ph=1, groups=4, bias=False)),
                            tm.f32(2, 8, 5, 5))


def test_legacy_batchnorm_with_running_std_is_read_as_torch7_reads_it(tmp_path):
    bn = tm.batchnorm(4, legacy_std=True, eps=1e-3)
    model = tm.sequential(tm.conv(3, 4, 1, 1), bn)
    check_against_reference(tmp_path, model, tm.f32(2, 3, 4, 4))
    converted = convert_file(str(tm.save(tmp_path, "bn", model)), generic=True)
    var = converted.state["m2.running_var"]
    np.testing.assert_allclose(var, bn.running_std.astype(np.float64) ** -2 - 1e-3, rtol=1e-5)
    assert any("running_std" in n for n in converted.notes)


def test_batchnorm_without_affine_and_1d_batchnorm(tmp_path):
    model = tm.sequential(tm.linear(6, 5), tm.batchnorm(5, affine=False, spatial=False))
    check_against_reference(tmp_path, model, tm.f32(3, 6))


def test_dropout_v1_scales_at_test_time_and_v2_does_not(tmp_path):
    x = tm.f32(2, 6)
    v1 = check_against_reference(tmp_path, tm.sequential(tm.module("nn.Dropout", p=0.25)), x)
    np.testing.assert_allclose(v1, x * 0.75, rtol=1e-6)
    v2 = check_against_reference(tmp_path, tm.sequential(tm.module("nn.Dropout", p=0.25, v2=True)), x)
    np.testing.assert_allclose(v2, x, rtol=1e-6)


def test_threshold_relu_with_its_own_threshold_and_value(tmp_path):
    got = check_against_reference(tmp_path, tm.sequential(tm.relu(0.5, -2.0)), tm.f32(2, 7))
    assert (got[got != -2.0] > 0.5).all()


@pytest.mark.parametrize("pool", [
    tm.maxpool(3, 3, 2, 2, 1, 1, ceil=True),
    tm.maxpool(2, 3, 2, 1, ceil=True),
    tm.maxpool(1, 1, 2, 2, ceil=True),                      # a last window Torch7 keeps and PyTorch drops
    tm.avgpool(3, 3, 2, 2, 1, 1, ceil=True, count_include_pad=False),
    tm.avgpool(3, 2, 2, 2, 1, 1, ceil=False, count_include_pad=True),
    tm.avgpool(2, 2, 2, 2, divide=False),
    tm.module("nn.SpatialAveragePooling", kW=2, kH=2, dW=2, dH=2),  # a file from before ceil_mode and divide
    tm.avgpool(3, 3, 2, 2, 1, 1, count_include_pad=False, cls="cudnn.SpatialAveragePooling"),
], ids=["max-ceil-pad", "max-ceil-nonsquare", "max-ceil-k<d", "avg-ceil-exclude", "avg-include", "avg-sum",
        "avg-legacy-sum",
        "cudnn-avg-always-includes-padding"])
def test_pooling_output_sizes_and_divisors_follow_torch7(tmp_path, pool):
    check_against_reference(tmp_path, tm.sequential(pool), tm.f32(2, 3, 8, 9))


def test_view_with_minus_one_and_reshape(tmp_path):
    model = tm.sequential(tm.view(-1, 4, num_input_dims=3), tm.module("nn.Reshape", size=tm.as_storage(np.array([8, 3], np.int64))))
    check_against_reference(tmp_path, model, tm.f32(2, 2, 3, 4))


def test_residual_tables_join_and_concat_count_dimensions_like_torch7(tmp_path):
    branch = tm.module("nn.ConcatTable", modules=[tm.conv(4, 2, 1, 1), tm.conv(4, 3, 1, 1)])
    join = tm.module("nn.JoinTable", dimension=1, nInputDims=3)
    concat = tm.module("nn.Concat", dimension=2, modules=[tm.module("nn.Identity"),
                                                            tm.module("nn.MulConstant", constant_scalar=0.5)])
    add = tm.sequential(tm.module("nn.ConcatTable", modules=[tm.module("nn.Identity"), tm.relu()]),
                        tm.module("nn.CAddTable", inplace=True))
    model = tm.sequential(branch, join, concat, add, tm.module("nn.LogSoftMax"))
    check_against_reference(tmp_path, model, tm.f32(2, 4, 3, 3))


def test_softmax_and_data_parallel_table_unwrapped_to_its_first_replica(tmp_path):
    inner = tm.sequential(tm.linear(5, 4), tm.module("nn.SoftMax"))
    dpt = tm.module("nn.DataParallelTable", modules=[inner], dimension=1)
    got = check_against_reference(tmp_path, dpt, tm.f32(3, 5))
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-6)


# --- loading -------------------------------------------------------------------------------------
def test_load_takes_a_t7_a_converted_pth_and_a_model_inside_a_table(tmp_path):
    model = tm.sequential(tm.conv(3, 4, 3, 3), tm.relu(), tm.view(-1, num_input_dims=3), tm.linear(16, 2))
    x = tm.f32(2, 3, 4, 4)
    src = tm.save(tmp_path, "plain", model)
    table = tm.save(tmp_path, "table", {"model": model, "epoch": 30})
    api.convert(str(src), str(tmp_path / "plain.pth"), input_shape=(3, 4, 4))
    outs = [converted_output(p, x) for p in (src, table, tmp_path / "plain.pth")]
    assert all(np.array_equal(outs[0], o) for o in outs[1:])
    assert not t7convert.load(str(src)).training


def test_load_explains_a_checkpoint_it_did_not_write(tmp_path):
    p = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.ones(2, 2)}, p)
    with pytest.raises(T7ConvertError, match="not a torchvision-layout ResNet"):
        t7convert.load(str(p))


def test_cudnn_softmax_normalizes_over_the_whole_sample_and_nn_over_planes(tmp_path):
    x = tm.f32(2, 3, 4, 4)
    whole = check_against_reference(tmp_path, tm.sequential(tm.module("cudnn.SoftMax")), x)
    np.testing.assert_allclose(whole.reshape(2, -1).sum(1), 1.0, rtol=1e-5)
    planes = check_against_reference(tmp_path, tm.sequential(tm.module("nn.LogSoftMax")), x)
    np.testing.assert_allclose(np.exp(planes).sum(1), 1.0, rtol=1e-5)


def test_fbcunn_layers_padding_names_inverse_std_and_dropout(tmp_path):
    conv = tm.conv(3, 4, 3, 3, cls="fbnn.SpatialConvolution")
    conv.fields.update(padLeft=1, padUp=1)
    bn = tm.module("fbnn.SpatialBatchNormalization", running_mean=tm.f32(4, scale=0.1),
                   running_std=np.random.default_rng(3).uniform(0.5, 2, 4).astype(np.float32),
                   weight=np.empty(0, np.float32), bias=np.empty(0, np.float32), affine=False)
    got = check_against_reference(tmp_path, tm.sequential(conv, bn, tm.module("fbnn.Dropout", p=0.5)),
                                  tm.f32(2, 3, 5, 5))
    assert got.shape == (2, 4, 5, 5)


def test_converters_and_reference_execution_cover_the_same_classes():
    from t7convert.conversion.context import supported_classes as converted
    from t7convert.interpreter import supported_classes as executed
    assert set(converted()) == set(executed())


@pytest.mark.parametrize("model,shape", tm.drawn(1, lambda: [
    (tm.sequential(tm.module("nn.SpatialConvolution", nInputPlane=2, nOutputPlane=3, kW=3, kH=3, dW=1, dH=1,
                             padding=1, weight=tm.f32(3, 2, 3, 3), bias=tm.f32(3))), (2, 5, 5)),
    (tm.sequential(tm.module("nn.SpatialMaxPooling", kW=2, kH=2, dW=2, dH=2)), (2, 5, 5)),
    (tm.sequential(tm.maxpool(3, 3, 2, 2, 1, 1, ceil=True, cls="cudnn.SpatialMaxPooling")), (2, 8, 8)),
    (tm.sequential(tm.view(6), tm.linear(6, 2, bias=False)), (2, 3)),
    (tm.sequential(tm.module("nn.ConcatTable", modules=[tm.module("nn.Identity"), tm.module("nn.Identity")]),
                   tm.module("nn.JoinTable", dimension=-1)), (2, 3)),
    (tm.sequential(tm.module("nn.Threshold", threshold=0.1, val=0.3)), (4,)),
]), ids=["conv-padding-field", "maxpool-before-ceil-mode", "cudnn-maxpool-ceil-pad", "view-no-batch-dims",
        "jointable-negative-dim", "nn-threshold"])
def test_old_and_unusual_fields_agree_with_the_reference(tmp_path, model, shape):
    check_against_reference(tmp_path, model, tm.f32(2, *shape) if len(shape) > 1 else tm.f32(*shape))


# --- what the reviews found: Torch7's reading of old and odd fields ------------------------------
@pytest.mark.parametrize("model,shape", tm.drawn(2, lambda: [
    # max pooling from before ceil_mode keeps its padding (only average pooling's backwardCompatible resets it)
    (tm.sequential(tm.module("nn.SpatialMaxPooling", kW=3, kH=3, dW=2, dH=2, padW=1, padH=1)), (2, 8, 8)),
    (tm.sequential(tm.module("cudnn.SpatialMaxPooling", kW=3, kH=3, dW=2, dH=2, padW=1, padH=1)), (2, 8, 8)),
    # backCompatibility lets the old `padding` field win over padW/padH
    (tm.sequential(tm.module("nn.SpatialConvolutionMM", nInputPlane=2, nOutputPlane=3, kW=3, kH=3, dW=1, dH=1,
                             padW=0, padH=0, padding=1, weight=tm.f32(3, 18), bias=tm.f32(3))), (2, 8, 8)),
    # Lua truthiness: 0 is true
    (tm.sequential(tm.module("nn.Dropout", p=0.5, v2=0)), (6,)),
    (tm.sequential(tm.avgpool(2, 2, 2, 2, divide=0)), (2, 5, 5)),
]), ids=["maxpool-legacy-padding", "cudnn-maxpool-legacy-padding", "padding-over-padW", "dropout-v2-zero",
        "avgpool-divide-zero"])
def test_fields_are_read_as_torch7s_lua_reads_them(tmp_path, model, shape):
    check_against_reference(tmp_path, model, tm.f32(2, *shape))


def test_a_data_parallel_table_inside_the_graph_verifies(tmp_path):
    """imagenet-multiGPU.torch saved Sequential(DataParallelTable(features), classifier)."""
    inner = tm.sequential(tm.linear(6, 5), tm.relu())
    model = tm.sequential(tm.linear(4, 6), tm.module("nn.DataParallelTable", modules=[inner]), tm.linear(5, 2))
    check_against_reference(tmp_path, model, tm.f32(3, 4))


@pytest.mark.slow
def test_modules_shared_over_and_over_are_refused_quickly(tmp_path):
    m = tm.sequential(tm.linear(4, 4))
    for _ in range(40):  # a 8 KB file whose tree has 2**40 places
        m = tm.sequential(m, m)
    src = tm.save(tmp_path, "dag", m)
    with pytest.raises(T7ConvertError, match="shared over and over"):
        api.convert(str(src), str(tmp_path / "dag.pth"))
    assert "(the module at" in t7("inspect", str(src)).output  # inspect names shared modules instead


def test_a_module_used_twice_converts_to_safetensors_and_counts_once(tmp_path):
    shared = tm.linear(4, 4)
    src = tm.save(tmp_path, "tied", tm.sequential(shared, tm.relu(), shared))
    report = api.convert(str(src), str(tmp_path / "tied.safetensors"), input_shape=(4,))
    assert report.verification.ok and report.converted.parameters == 20
    x = tm.f32(2, 4)
    np.testing.assert_allclose(converted_output(tmp_path / "tied.safetensors", x),
                               reference_run(t7convert.read(src), x).output, rtol=1e-5)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "tied.safetensors"), framework="pt") as f:  # stored once, aliased
        assert len(list(f.keys())) == 2 and json.loads(f.metadata()["t7convert_aliases"])
    module = t7convert.load(str(tmp_path / "tied.safetensors"))
    assert module.state_dict()["m1.weight"].data_ptr() == module.state_dict()["m3.weight"].data_ptr()


def test_outputs_that_cannot_be_written_are_refused_before_any_work(tmp_path):
    src = tm.save(tmp_path, "m", tm.sequential(tm.linear(4, 3)))
    with pytest.raises(T7ConvertError, match="is the file being converted"):
        api.convert(str(src), str(src), force=True)
    with pytest.raises(T7ConvertError, match="no folder"):
        api.convert(str(src), str(tmp_path / "missing" / "m.pth"))
    assert t7convert.read(src) is not None  # the input is untouched


def test_converted_files_get_ordinary_permissions(tmp_path):
    src = tm.save(tmp_path, "m", tm.sequential(tm.linear(4, 3)))
    api.convert(str(src), str(tmp_path / "m.pth"))
    assert (tmp_path / "m.pth").stat().st_mode & 0o044  # readable by others under a usual umask
