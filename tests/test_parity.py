"""``t7convert parity``: users prove a conversion right, and a wrong conversion is caught and located.

Journeys: a user with the shared Torch7 fixtures checks each model against Torch7's own outputs; a
user without Torch7 checks a model of their own on a random input; a broken conversion (a transposed
non-square kernel, a changed BN eps, groups in the wrong order) fails naming the stage where it
diverges; a perturbed Torch7 reference fails with exit 1; bad input exits 2.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import t7convert
import t7convert.cli.parity_cmd  # noqa: F401  (registers the command on the group)
from t7convert import T7Object, api
from t7convert.cli import cli
from t7convert.conversion.input_spec import InputSpec
from t7convert.conversion.model import convert_file
from t7convert.parity import verify
from t7convert.pytorch.build import stage_modules
from t7convert.pytorch.files import save
from t7convert.torch7.format import as_storage


def invoke(*args: str):
    return CliRunner().invoke(cli, ["parity", *map(str, args)], catch_exceptions=False)


# --- a small fb.resnet.torch-style ResNeXt, built and written here ----------------------------
def mod(cls: str, version: int = 1, **fields) -> T7Object:
    return T7Object(cls, version, {k: (np.asarray(v, np.float32) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
                                       else v) for k, v in fields.items()})


def seq(*modules: T7Object) -> T7Object:
    return mod("nn.Sequential", modules=list(modules))


def conv(rng: np.random.Generator, cin: int, cout: int, kW: int, kH: int, *, padW: int = 0, padH: int = 0,
         groups: int = 1, cls: str = "cudnn.SpatialConvolution") -> T7Object:
    fan_in = cin // groups * kH * kW
    fields = dict(nInputPlane=cin, nOutputPlane=cout, kW=kW, kH=kH, dW=1, dH=1, padW=padW, padH=padH,
                  weight=rng.standard_normal((cout, cin // groups, kH, kW)) * (2 / fan_in) ** 0.5)
    if cls.startswith("cudnn."):
        fields["groups"] = groups
    return mod(cls, **fields)


def bn(rng: np.random.Generator, c: int) -> T7Object:
    return mod("nn.SpatialBatchNormalization", 2, eps=1e-5, affine=True, momentum=0.1, train=False,
               running_mean=rng.standard_normal(c) * 0.1, running_var=rng.uniform(0.5, 1.5, c),
               weight=rng.uniform(0.5, 1.5, c), bias=rng.standard_normal(c) * 0.1)


def relu() -> T7Object:
    return mod("cudnn.ReLU", inplace=True, mode="CUDNN_ACTIVATION_RELU")


@pytest.fixture(scope="module")
def own_model(tmp_path_factory):
    """modules[1] a non-square 3x5 (WxH) convolution, [2] BN, [3] ReLU, [4] a stage of one ResNeXt block
    whose 3x3 convolution has 4 groups, [5] average pool, [6] View, [7] Linear. Input 3x8x8."""
    rng = np.random.default_rng(3)
    branch = seq(conv(rng, 16, 16, 1, 1), bn(rng, 16), relu(),
                 conv(rng, 16, 16, 3, 3, padW=1, padH=1, groups=4), bn(rng, 16), relu(),
                 conv(rng, 16, 32, 1, 1), bn(rng, 32))
    block = seq(mod("nn.ConcatTable", modules=[branch, seq(conv(rng, 16, 32, 1, 1), bn(rng, 32))]),
                mod("nn.CAddTable", inplace=True), relu())
    model = seq(conv(rng, 3, 16, 3, 5, padW=1, padH=2, cls="nn.SpatialConvolution"), bn(rng, 16), relu(), seq(block),
                mod("cudnn.SpatialAveragePooling", kW=8, kH=8, dW=1, dH=1, padW=0, padH=0, ceil_mode=False,
                    count_include_pad=True, divide=True),
                mod("nn.View", size=as_storage(np.array([32])), numElements=32, numInputDims=3),
                mod("nn.Linear", weight=rng.standard_normal((10, 32)) * 0.2, bias=rng.standard_normal(10) * 0.1))
    path = tmp_path_factory.mktemp("own") / "resnext_mini.t7"
    t7convert.write(path, model)
    return path


def test_a_correct_conversion_passes_on_a_random_input_without_torch7(own_model):
    result = invoke(own_model, "--batch", "2", "--json")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["ok"] and facts["input"]["shape"] == [2, 3, 8, 8]  # size read from the model
    (report,) = facts["comparisons"]
    assert [s["path"] for s in report["stages"]][:5] == ["modules[1]", "modules[2]", "modules[3]",
                                                         "modules[4].modules[1]", "modules[4]"]
    assert report["top1_agreement"] == {"agree": 2, "total": 2}
    assert report["output"]["max_rel"] < 1e-5


def test_the_python_api_runs_the_same_parity_as_the_command(own_model):
    """The command only prints what ``t7convert.api.parity`` returns."""
    result = api.parity(str(own_model), batch=2)
    assert result.ok and result.shape == (2, 3, 8, 8)
    assert result.render().splitlines()[-1] == "PARITY OK"
    assert result.to_dict()["comparisons"][0]["top1_agreement"] == {"agree": 2, "total": 2}


def _conv_with(module: torch.nn.Module, predicate) -> torch.nn.Conv2d:
    return next(m for m in module.modules() if isinstance(m, torch.nn.Conv2d) and predicate(m))


def _broken(own_model, defect: str) -> torch.nn.Module:
    module = t7convert.load(own_model)
    with torch.no_grad():
        if defect == "transposed non-square kernel":  # kH and kW swapped while reshaping the weight
            w = _conv_with(module, lambda m: tuple(m.weight.shape[2:]) == (5, 3)).weight
            w.copy_(w.transpose(2, 3).reshape(w.shape))
        elif defect == "changed BN eps":
            next(m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)).eps = 1e-3
        elif defect == "groups in the wrong order":
            w = _conv_with(module, lambda m: m.groups == 4).weight
            w.copy_(w.reshape(4, -1, *w.shape[1:]).flip(0).reshape(w.shape))
    return module


@pytest.mark.parametrize("defect, stage", [("transposed non-square kernel", "modules[1]"),
                                           ("changed BN eps", "modules[2]"),
                                           ("groups in the wrong order", "modules[4].modules[1]")])
def test_a_broken_conversion_fails_naming_the_first_diverging_stage(own_model, defect, stage):
    x = InputSpec.tensor(3, 8, 8).draw(2, seed=0)
    report = verify(_broken(own_model, defect), t7convert.read(own_model), x)
    assert not report.ok
    assert report.first_divergence.path == stage
    assert f"first divergence at {stage}" in report.summary()
    assert json.loads(report.to_json())["first_divergence"] == stage


def test_a_conversion_that_crashes_reports_the_stage_it_did_not_reach(own_model):
    module = t7convert.load(own_model)
    stages = dict(stage_modules(module))
    linear = stages["modules[7]"]
    assert isinstance(linear, torch.nn.Linear)
    linear.weight = torch.nn.Parameter(torch.zeros(10, 33))  # a wrong input width: forward raises
    report = verify(module, t7convert.read(own_model), InputSpec.tensor(3, 8, 8).draw(1, seed=0))
    assert not report.ok and "failed to run" in report.error
    assert report.first_divergence.path == "modules[7]"
    assert [s.ok for s in report.stages[:-1]] == [True] * (len(report.stages) - 1)


def test_a_broken_pth_given_on_the_command_line_exits_1_and_names_the_stage(own_model, tmp_path):
    converted = convert_file(str(own_model))
    grouped = next(k for k, v in converted.state.items() if tuple(np.shape(v)) == (16, 4, 3, 3))
    w = np.array(converted.state[grouped])
    converted.state[grouped] = np.ascontiguousarray(w.reshape(4, 4, 4, 3, 3)[::-1].reshape(w.shape))
    save(converted, str(tmp_path / "broken.pth"))
    result = invoke(own_model, tmp_path / "broken.pth")
    assert result.exit_code == 1, result.output
    assert "first divergence at modules[4].modules[1]" in result.output
    assert "PARITY FAILED" in result.output


# --- against real Torch7 ------------------------------------------------------------------------
def fixture_models(root):
    found = list((root / "torch7" / "models").glob("*.t7")) + [root / "torch7" / "formats" / "model.binary.t7"]
    return sorted(p for p in found if not p.name.endswith(".ref.t7"))


@pytest.mark.slow
def test_every_fixture_passes_against_its_torch7_outputs(torch7_fixtures):
    for path in fixture_models(torch7_fixtures):
        result = invoke(path, "--reference", str(path)[:-3] + ".ref.t7", "--json")
        assert result.exit_code == 0, (path.name, result.output[-2000:])
        facts = json.loads(result.output)
        module_vs_torch7, execution_vs_torch7, module_vs_execution = facts["comparisons"]
        assert module_vs_torch7["reference"].startswith("Torch7 outputs")
        assert execution_vs_torch7["candidate"].startswith("reference execution")
        if "models" in path.parts:  # these dumps have stages: every top-level module was compared
            assert len(module_vs_torch7["stages"]) == len(execution_vs_torch7["stages"]) > 5
        for report in facts["comparisons"]:
            assert report["ok"] and report["output"]["max_rel"] < 1e-5, (path.name, report)


def _perturbed(ref_path, out_path):
    ref = t7convert.read(ref_path)
    y = np.array(ref["output"], dtype=np.float32)
    y.flat[0] += 1e-3 * float(np.abs(y).max())
    t7convert.write(out_path, {"input": np.array(ref["input"]), "output": y})


@pytest.mark.slow
def test_a_reference_perturbed_by_1e_3_fails_with_exit_1(torch7_fixtures, tmp_path):
    model = torch7_fixtures / "torch7" / "models" / "resnext11_c4x4d_C_cifar.t7"
    _perturbed(str(model)[:-3] + ".ref.t7", tmp_path / "bad.ref.t7")
    result = invoke(model, "--reference", tmp_path / "bad.ref.t7", "--json")
    assert result.exit_code == 1
    facts = json.loads(result.output)
    assert not facts["ok"]
    module_vs_torch7, execution_vs_torch7, module_vs_execution = facts["comparisons"]
    assert module_vs_torch7["first_divergence"] == execution_vs_torch7["first_divergence"] == "output"
    assert 0.9e-3 < module_vs_torch7["output"]["max_rel"] < 1.1e-3
    assert module_vs_execution["ok"]  # the model and the reference execution still agree


@pytest.mark.slow
def test_the_reference_execution_alone_can_be_checked_against_torch7(torch7_fixtures):
    model = torch7_fixtures / "torch7" / "models" / "resnet20_cifar_shortcutA.t7"
    result = invoke(model, "--reference", str(model)[:-3] + ".ref.t7", "--no-module")
    assert result.exit_code == 0, result.output
    assert "reference execution (float64 NumPy) vs Torch7 outputs" in result.output
    assert "converted model" not in result.output


def test_groups_in_the_wrong_order_in_a_real_resnext_are_located(torch7_fixtures):
    model_path = torch7_fixtures / "torch7" / "models" / "resnext11_c4x4d_C_cifar.t7"
    module = t7convert.load(model_path)
    with torch.no_grad():
        w = _conv_with(module, lambda m: m.groups > 1).weight
        g = _conv_with(module, lambda m: m.groups > 1).groups
        w.copy_(w.reshape(g, -1, *w.shape[1:]).roll(1, 0).reshape(w.shape))
    report = verify(module, t7convert.read(model_path), InputSpec.tensor(3, 32, 32).draw(1, seed=1))
    assert report.first_divergence.path == "modules[4].modules[1]"


@pytest.mark.slow
def test_an_image_input_is_preprocessed_like_fb_resnet_torch(torch7_fixtures, monkeypatch):
    image = sorted((torch7_fixtures / "torch7" / "preprocess").glob("*.png"))[0]
    model = torch7_fixtures / "torch7" / "models" / "resnext_tiny_32x1d_C_imagenet.t7"
    from t7convert.parity import run as parity_run

    seen = []
    observe = parity_run.observe
    monkeypatch.setattr(parity_run, "observe", lambda module, x, **kw: seen.append(x) or observe(module, x, **kw))
    result = invoke(model, "--image", image, "--json")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["input"] == {"shape": [1, 3, 224, 224], "kind": "image", "file": str(image)}
    # the input is what Torch7's fb.resnet.torch preprocessing made of that image
    torch7_val = np.asarray(t7convert.read(str(image) + ".ref.t7")["val"])
    np.testing.assert_allclose(seen[0][0], torch7_val, atol=1e-6)


def test_an_image_is_preprocessed_to_the_size_a_cifar_model_takes(torch7_fixtures):
    image = sorted((torch7_fixtures / "torch7" / "preprocess").glob("*.png"))[0]
    for name in ("resnet20_cifar_shortcutA.t7", "resnext11_c4x4d_C_cifar.t7"):  # generic, and torchvision layout
        result = invoke(torch7_fixtures / "torch7" / "models" / name, "--image", image)
        assert result.exit_code == 0, result.output
        assert "input 1x3x32x32" in result.output


@pytest.mark.slow
def test_a_converted_file_of_another_model_is_named_in_one_line_and_exits_2(torch7_fixtures, tmp_path):
    models = torch7_fixtures / "torch7" / "models"
    imagenet = tmp_path / "imagenet.pth"
    api.convert(str(models / "resnext_tiny_32x1d_C_imagenet.t7"), str(imagenet))
    result = CliRunner().invoke(cli, ["parity", str(models / "resnext11_c4x4d_C_cifar.t7"), str(imagenet)])
    assert result.exit_code == 2  # a mismatched pair is bad input, as every other input error
    assert "is not a conversion of" in result.output and "CIFAR" in result.output
    assert "inf" not in result.output and "Traceback" not in result.output
    generic = tmp_path / "generic.pth"  # the same model converted --generic still compares
    api.convert(str(models / "resnext_tiny_32x1d_C_imagenet.t7"), str(generic), generic=True)
    assert invoke(models / "resnext_tiny_32x1d_C_imagenet.t7", generic).exit_code == 0


# --- bad input ----------------------------------------------------------------------------------
def test_bad_input_exits_2(own_model, tmp_path):
    garbage = tmp_path / "garbage.t7"
    garbage.write_bytes(b"\x00not a torch file")
    no_output = tmp_path / "no_output.ref.t7"
    t7convert.write(no_output, {"input": np.zeros((1, 3, 8, 8), np.float32)})
    cases = {
        "missing file": [tmp_path / "missing.t7"],
        "not a .t7": [garbage],
        "reference without output": [own_model, "--reference", no_output],
        "input the model cannot take": [own_model, "--input-size", "3,5,5"],
        "malformed size": [own_model, "--input-size", "big"],
        "two inputs": [own_model, "--reference", no_output, "--input-size", "3,8,8"],
        "no-module without reference": [own_model, "--no-module"],
    }
    for name, args in cases.items():
        result = CliRunner().invoke(cli, ["parity", *map(str, args)])
        assert result.exit_code == 2, (name, result.output)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_a_gpu_is_bad_input(own_model):
    result = CliRunner().invoke(cli, ["parity", str(own_model), "--device", "cuda"])
    assert result.exit_code == 2
    assert "no CUDA device" in result.output


def test_parity_given_the_converted_file_first_says_to_give_the_t7_first(tmp_path):
    lin = mod("nn.Linear", weight=np.random.default_rng(21).standard_normal((3, 4)), bias=np.zeros(3))
    src, out = tmp_path / "m.t7", tmp_path / "m.pth"
    t7convert.write(src, seq(lin))
    api.convert(str(src), str(out))
    for args in ([out], [out, src]):
        result = CliRunner().invoke(cli, ["parity", *map(str, args)])
        assert result.exit_code == 2, result.output
        assert "give the .t7 first, then the converted file" in result.output
        assert "torch.load" not in result.output and len(result.output.strip().splitlines()) == 1
    assert f"t7convert parity {src} {out}" in result.output


def test_parity_of_a_mismatched_pair_is_an_input_error_exit_2(tmp_path):
    gen = np.random.default_rng(22)
    a, b = tmp_path / "a.t7", tmp_path / "b.t7"
    t7convert.write(a, seq(mod("nn.Linear", weight=gen.standard_normal((3, 4)), bias=np.zeros(3))))
    t7convert.write(b, seq(mod("nn.Linear", weight=gen.standard_normal((5, 4)), bias=np.zeros(5))))
    api.convert(str(b), str(tmp_path / "b.pth"))
    result = CliRunner().invoke(cli, ["parity", str(a), str(tmp_path / "b.pth")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("t7convert: error:") and "is not a conversion of" in result.output
