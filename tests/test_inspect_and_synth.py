"""`t7convert inspect` tells what a file holds; `t7convert synth` writes checkpoints laid out as the originals."""
from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch7_models as tm
from click.testing import CliRunner

import t7convert
from t7convert.cli import cli
from t7convert.conversion.inspection import inspect_file
from t7convert.torch7.synth import ARCHS, synthesize, synthesize_file

# Parameter counts of the published models (torchvision's and the ResNeXt README's figures).
PUBLISHED_PARAMETERS = {
    "resnext_50_32x4d": 25_028_904, "resnext_101_32x4d": 44_177_704, "resnext_101_64x4d": 83_455_272,
    "resnet_18": 11_689_512, "resnet_34": 21_797_672, "resnet_50": 25_557_032, "resnet_101": 44_549_160,
    "resnet_152": 60_192_808,
}


def t7(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def manifest_params(folder) -> dict[str, int]:
    with open(folder / "MANIFEST.tsv") as f:
        return {r["id"]: int(r["params"]) for r in csv.DictReader(f, delimiter="\t") if r.get("params")}


def test_inspect_reports_manifests_parameter_counts_for_real_torch7_models(torch7_fixtures):
    folder = torch7_fixtures / "torch7" / "models"
    for name, params in manifest_params(folder).items():
        result = t7("inspect", "--json", str(folder / f"{name}.t7"))
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["parameters"] == params, name


def test_inspect_prints_the_tree_with_constructor_arguments(torch7_fixtures):
    out = t7("inspect", str(torch7_fixtures / "torch7/formats/model.long4.t7")).output
    assert "[input -> (1) -> (2) -> (3) -> (4) -> (5) -> (6) -> (7) -> output]" in out
    assert "(1): nn.SpatialConvolution(3 -> 8, 3x5, 1,2, 1,2)" in out
    assert "nn.Linear(288 -> 10)" in out and "4-byte longs" in out
    assert "parameters: 3,274" in out


def test_inspect_shows_sharing_legacy_fields_and_missing_versions(tmp_path):
    shared = np.arange(12, dtype=np.float32)
    model = tm.sequential(tm.batchnorm(4, legacy_std=True), tm.module("nn.Linear", None, weight=shared[:8].reshape(2, 4),
                                                                         bias=shared[8:10]))
    path = tm.save(tmp_path, "old", model)
    info = inspect_file(str(path)).to_json()
    assert info["legacy_fields"] == {"running_std": 1}
    assert info["versions_missing"] == ["nn.Linear"]
    assert any(s["tensors"] == 2 and s["size"] == 12 for s in info["storages"])


def test_inspect_does_not_import_torch(torch7_fixtures):
    code = ("import sys, t7convert.conversion.inspection as i; i.inspect_file(sys.argv[1]); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(torch7_fixtures / "torch7/models/resnet20_cifar_shortcutA.t7")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_inspect_answers_on_non_model_files(torch7_fixtures):
    result = t7("inspect", "--json", str(torch7_fixtures / "torchfile/function_upvals.t7"))
    assert result.exit_code == 0
    assert json.loads(result.output)["functions"] >= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS))
def test_synthesized_models_have_the_published_parameter_counts(name):
    root = synthesize(name)
    weights = [m.fields[k] for _, m in root.walk() for k in ("weight", "bias") if k in m.fields]
    assert sum(w.size for w in weights) == PUBLISHED_PARAMETERS[name]


@pytest.mark.slow
def test_synthesized_checkpoint_is_laid_out_as_fb_resnet_torch_saves(tmp_path):
    path = tmp_path / "m.t7"
    n = synthesize_file("resnext_50_32x4d", str(path))
    doc = t7convert.read_document(path)
    flat = [s for s in doc.storages.values() if s.size == n]
    assert len(flat) == 2  # weights and gradWeights, each flattened into one FloatStorage
    weights = [t for t in doc.tensors if t.path.endswith(("weight", "bias")) and not t.path.endswith(("gradWeight", "gradBias"))]
    assert {t.storage_index for t in weights} == {flat[0].index}
    classes = {c for c, _ in doc.classes}
    assert {"cudnn.SpatialConvolution", "cudnn.ReLU", "cudnn.SpatialAveragePooling",
            "nn.SpatialBatchNormalization", "nn.SpatialMaxPooling"} <= classes
    block = doc.root.modules[4].modules[0]
    branch = block.modules[0].modules[0]
    assert branch.modules[0].class_name == "nn.Sequential" and len(branch.modules[0].modules) == 6  # the nesting
    assert inspect_file(str(path)).parameters == 25_028_904


def test_synthesized_layout_is_torch7s_to_the_byte(torch7_fixtures, tmp_path):
    """The same architecture as a model real Torch7 saved gives a file of exactly the same size: same
    classes, fields, tensor and storage objects."""
    arch = dataclasses.replace(ARCHS["resnext_tiny"], nested=False)  # that fixture predates the nesting
    synthesize_file(arch, str(tmp_path / "tiny.t7"))
    original = torch7_fixtures / "torch7/models/resnext_tiny_32x1d_C_imagenet.t7"
    assert (tmp_path / "tiny.t7").stat().st_size == original.stat().st_size
    ours, theirs = t7convert.read_document(tmp_path / "tiny.t7"), t7convert.read_document(original)
    assert ours.classes == theirs.classes and len(ours.tensors) == len(theirs.tensors)


def test_synth_command_refuses_to_overwrite(tmp_path):
    out = tmp_path / "demo.t7"
    assert t7("synth", "resnext_tiny", "-o", str(out)).exit_code == 0
    result = CliRunner().invoke(cli, ["synth", "resnext_tiny", "-o", str(out)])
    assert result.exit_code == 2


@pytest.mark.slow
def test_every_small_architecture_converts_and_verifies(tmp_path):
    for name, arch in ARCHS.items():
        if sum(arch.stages) > 4:
            continue
        path = tmp_path / f"{name}.t7"
        synthesize_file(name, str(path))
        report = t7convert.convert(str(path), str(tmp_path / f"{name}.pth"))
        assert report.verification.ok, (name, report.verification.summary())


def test_inspect_says_which_flattened_storage_holds_the_weights_and_which_the_gradients(tmp_path):
    src = tmp_path / "tiny.t7"
    synthesize_file("resnext_tiny", str(src))
    lines = [line for line in t7("inspect", str(src)).output.splitlines() if line.startswith("storage #")]
    assert len(lines) == 2
    assert "the weights, first at modules[1].weight" in lines[0]
    assert "the gradients (training state, not converted), first at modules[1].gradWeight" in lines[1]


def test_inspect_describes_the_catalogues_classes_with_their_constructor_arguments():
    from t7convert.conversion.inspection import describe

    cases = {
        tm.module("nn.Narrow", dimension=2, index=3, length=1): "nn.Narrow(2, 3, 1)",
        tm.module("nn.CMul", weight=np.zeros((1, 3, 1, 1), np.float32)): "nn.CMul(1x3x1x1)",
        tm.module("nn.SpatialDropout", p=0.2): "nn.SpatialDropout(0.2)",
        tm.module("nn.GatedLinearUnit", dim=2): "nn.GatedLinearUnit(2)",
        tm.module("nn.ShaveImage", size=4): "nn.ShaveImage(4)",
        tm.module("nn.Sigmoid"): "nn.Sigmoid",  # Torch7 prints no arguments for it either
    }
    for module, printed in cases.items():
        assert describe(module) == printed
