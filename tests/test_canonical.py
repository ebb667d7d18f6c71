"""fb.resnet.torch and ResNeXt checkpoints come out in torchvision's state_dict layout.

The expected key lists are written here from torchvision's documented architecture (models/resnet.py:
conv1, bn1, layer1..4 of BasicBlock/Bottleneck with conv1..3, bn1..3 and downsample.0/.1, fc; a
Bottleneck's width is int(planes * width_per_group / 64) * groups), independently of t7convert's own
ResNet class, so that a mistake in that class cannot agree with itself.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm

import t7convert
from t7convert import api
from t7convert.conversion.model import convert_file
from t7convert.conversion.resnet_spec import ResNetSpec
from t7convert.pytorch.build import module_of
from t7convert.pytorch.from_state_dict import spec_from_state_dict
from t7convert.pytorch.resnet import ResNet
from t7convert.torch7.synth import ARCHS, synthesize_file

TORCHVISION = {  # name: (block, layers, groups, width_per_group)
    "resnet18": ("basic", [2, 2, 2, 2], 1, 64),
    "resnet50": ("bottleneck", [3, 4, 6, 3], 1, 64),
    "resnext50_32x4d": ("bottleneck", [3, 4, 6, 3], 32, 4),
    "resnext101_64x4d": ("bottleneck", [3, 4, 23, 3], 64, 4),
}


def torchvision_keys(block: str, layers: list[int], groups: int, width_per_group: int,
                     num_classes: int = 1000) -> dict[str, tuple[int, ...]]:
    """torchvision.models.resnet's state_dict keys and shapes, written from its definition."""
    keys: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for k in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{prefix}.{k}"] = (c,)
        keys[f"{prefix}.num_batches_tracked"] = ()

    keys["conv1.weight"] = (64, 3, 7, 7)
    bn("bn1", 64)
    expansion = 4 if block == "bottleneck" else 1
    inplanes = 64
    for s, (n, planes) in enumerate(zip(layers, [64, 128, 256, 512]), 1):
        for i in range(n):
            p = f"layer{s}.{i}"
            stride = 2 if s > 1 and i == 0 else 1
            if block == "bottleneck":
                width = int(planes * (width_per_group / 64.0)) * groups
                keys[f"{p}.conv1.weight"] = (width, inplanes, 1, 1)
                bn(f"{p}.bn1", width)
                keys[f"{p}.conv2.weight"] = (width, width // groups, 3, 3)
                bn(f"{p}.bn2", width)
                keys[f"{p}.conv3.weight"] = (planes * 4, width, 1, 1)
                bn(f"{p}.bn3", planes * 4)
            else:
                keys[f"{p}.conv1.weight"] = (planes, inplanes, 3, 3)
                bn(f"{p}.bn1", planes)
                keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                bn(f"{p}.bn2", planes)
            if stride != 1 or inplanes != planes * expansion:
                keys[f"{p}.downsample.0.weight"] = (planes * expansion, inplanes, 1, 1)
                bn(f"{p}.downsample.1", planes * expansion)
            inplanes = planes * expansion
    keys["fc.weight"] = (num_classes, 512 * expansion)
    keys["fc.bias"] = (num_classes,)
    return keys


def shapes(sd) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in sd.items()}


@pytest.mark.parametrize("synth_name,torchvision_name", [
    ("resnext_101_64x4d", "resnext101_64x4d"), ("resnext_50_32x4d", "resnext50_32x4d"),
    ("resnet_50", "resnet50"), ("resnet_18", "resnet18")])
@pytest.mark.slow
def test_full_size_checkpoints_have_torchvisions_keys_and_shapes(tmp_path, synth_name, torchvision_name):
    src = tmp_path / f"{synth_name}.t7"
    synthesize_file(synth_name, str(src))
    report = api.convert(str(src), str(tmp_path / "model.pth"), verify=False)
    assert report.converted.spec.torchvision_name == torchvision_name
    sd = torch.load(tmp_path / "model.pth", weights_only=True)
    assert shapes(sd) == torchvision_keys(*TORCHVISION[torchvision_name])
    assert all(v.dtype == torch.float32 for k, v in sd.items() if not k.endswith("num_batches_tracked"))


@pytest.mark.slow
def test_converted_weights_are_the_torch7_weights(tmp_path):
    """Renaming must not move a tensor: spot-check weights by their Torch7 paths."""
    src = tmp_path / "m.t7"
    synthesize_file("resnext_tiny", str(src))
    api.convert(str(src), str(tmp_path / "m.pth"))
    sd = torch.load(tmp_path / "m.pth", weights_only=True)
    root = t7convert.read(src)
    # Python lists count from 0: modules[5] is Lua's modules[6], layer2
    block = root.modules[5].modules[0]  # layer2.0: Sequential(ConcatTable(branch, shortcut), CAddTable, ReLU)
    branch, shortcut = block.modules[0].modules
    inner = branch.modules[0]           # the released files' nesting of the first six layers
    np.testing.assert_array_equal(sd["layer2.0.conv2.weight"].numpy(), inner.modules[3].weight)
    np.testing.assert_array_equal(sd["layer2.0.bn3.running_var"].numpy(), branch.modules[2].running_var)
    np.testing.assert_array_equal(sd["layer2.0.downsample.1.bias"].numpy(), shortcut.modules[1].bias)
    np.testing.assert_array_equal(sd["fc.weight"].numpy(), root.modules[10].weight)


@pytest.mark.slow
def test_form_b_folds_into_the_grouped_convolution_exactly(tmp_path):
    src = tmp_path / "b.t7"
    synthesize_file("resnext_tiny_b", str(src))
    report = api.convert(str(src), str(tmp_path / "b.pth"))
    assert report.converted.kind == "canonical" and report.verification.ok
    assert report.converted.spec.groups == 4
    assert any("form B: the 4 parallel branches" in n for n in report.converted.notes)  # the summary says so
    # synth's description and the recognised title name the same cardinality x group width
    assert "4x4d" in report.converted.title and "4x4d" in ARCHS["resnext_tiny_b"].description


def _bottleneck_block(cin: int, planes: int, stride: int, *, bias: bool = False, eps: float = 1e-5,
                      projection: bool) -> object:
    branch = tm.sequential(tm.conv(cin, planes, 1, 1, bias=bias), tm.batchnorm(planes, eps=eps), tm.relu(),
                           tm.conv(planes, planes, 3, 3, stride, stride, 1, 1, bias=bias), tm.batchnorm(planes, eps=eps),
                           tm.relu(), tm.conv(planes, planes * 4, 1, 1, bias=bias), tm.batchnorm(planes * 4, eps=eps))
    shortcut = (tm.sequential(tm.conv(cin, planes * 4, 1, 1, stride, stride, bias=bias), tm.batchnorm(planes * 4, eps=eps))
                if projection else tm.module("nn.Identity"))
    return tm.sequential(tm.module("nn.ConcatTable", modules=[branch, shortcut]), tm.module("nn.CAddTable"), tm.relu())


def _imagenet_trunk(blocks, width: int, *, bias: bool = False, eps: float = 1e-5):
    return tm.sequential(tm.conv(3, 8, 7, 7, 2, 2, 3, 3, bias=bias), tm.batchnorm(8, eps=eps), tm.relu(),
                         tm.maxpool(3, 3, 2, 2, 1, 1), *blocks,
                         tm.avgpool(7, 7, 1, 1), tm.view(width, num_input_dims=3), tm.linear(width, 10))


def _stages(bias: bool = False, eps: float = 1e-5, shortcut_c: bool = False):
    cin, out = 8, []
    for s, planes in enumerate([4, 8, 16, 32]):
        stride = 1 if s == 0 else 2
        blocks = [_bottleneck_block(cin, planes, stride, bias=bias, eps=eps, projection=True),
                  _bottleneck_block(planes * 4, planes, 1, bias=bias, eps=eps, projection=shortcut_c)]
        out.append(tm.sequential(*blocks))
        cin = planes * 4
    return out


def test_conv_biases_and_another_bn_eps_are_folded_exactly_into_torchvision_layout(tmp_path):
    model = _imagenet_trunk(_stages(bias=True, eps=1e-3), 128, bias=True, eps=1e-3)
    src = tm.save(tmp_path, "biased", model)
    report = api.convert(str(src), str(tmp_path / "m.pth"))
    assert report.converted.kind == "canonical", report.converted.not_canonical
    assert report.verification.ok, report.verification.summary()
    assert any("biases folded" in n for n in report.converted.notes)
    assert any("eps" in n for n in report.converted.notes)


def test_shortcut_c_puts_a_projection_in_every_block(tmp_path):
    src = tm.save(tmp_path, "c", _imagenet_trunk(_stages(shortcut_c=True), 128))
    report = api.convert(str(src), str(tmp_path / "m.pth"))
    assert report.converted.spec.shortcut == "C" and report.verification.ok
    sd = torch.load(tmp_path / "m.pth", weights_only=True)
    assert "layer1.1.downsample.0.weight" in sd


@pytest.mark.slow
def test_a_stride_on_the_1x1_convolution_is_not_torchvisions_resnet(tmp_path):
    stages = _stages()
    first = stages[1].modules[0].modules[0].modules[0]  # layer2.0's branch
    conv1, conv2 = first.modules[0], first.modules[3]
    conv1.fields.update(dW=2, dH=2)
    conv2.fields.update(dW=1, dH=1)
    report = api.convert(str(tm.save(tmp_path, "msra", _imagenet_trunk(stages, 128))), str(tmp_path / "m.pth"))
    assert report.converted.kind == "generic" and report.converted.not_canonical.startswith("layer2.0")
    assert report.verification.ok


@pytest.mark.slow
def test_pre_activation_and_shortcut_a_stay_generic_and_exact(torch7_fixtures, tmp_path):
    report = api.convert(str(torch7_fixtures / "torch7/models/resnet20_cifar_shortcutA.t7"), str(tmp_path / "a.pth"))
    assert report.converted.kind == "generic" and "shortcut" in report.converted.not_canonical
    assert report.verification.ok


@pytest.mark.parametrize("spec", [
    ResNetSpec("bottleneck", [3, 4, 23, 3], groups=64, width_per_group=4),
    ResNetSpec("basic", [2, 2, 2, 2]),
    ResNetSpec("bottleneck", [1, 1, 1], widths=[64, 128, 256], groups=4, width_per_group=16, stem="cifar",
               num_classes=10),
    ResNetSpec("basic", [1, 1, 1, 1], widths=[16, 32, 64, 128], stem_width=16, shortcut="C"),
])
def test_the_architecture_is_derivable_from_the_state_dict_alone(spec):
    with torch.device("meta"):
        sd = ResNet(spec).state_dict()
    assert spec_from_state_dict(sd) == spec


@pytest.mark.slow
def test_unusual_widths_load_back_from_the_bare_state_dict(tmp_path):
    """Recognition and derivation from the state_dict choose width_per_group the same way."""
    import dataclasses

    from t7convert.torch7.synth import ARCHS
    arch = dataclasses.replace(ARCHS["resnext_tiny"], widths=(16, 64, 128, 256), cardinality=2, base_width=5)
    src = tmp_path / "odd.t7"
    synthesize_file(arch, str(src))
    report = api.convert(str(src), str(tmp_path / "odd.pth"))
    assert report.converted.kind == "canonical" and report.verification.ok
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        a = t7convert.load(str(tmp_path / "odd.pth"))(torch.from_numpy(x))
        b = t7convert.load(str(src))(torch.from_numpy(x))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_the_canonical_module_computes_what_torch7_computes_at_other_input_sizes(tmp_path):
    """Torch7's Avg(7,7,1,1) + View(n):setNumInputDims(3), not torchvision's adaptive pooling."""
    from t7convert.parity.compare import verify
    src = tmp_path / "tiny.t7"
    synthesize_file("resnext_tiny", str(src))
    converted = convert_file(str(src))
    x = np.random.default_rng(1).standard_normal((1, 3, 256, 256)).astype(np.float32)
    report = verify(module_of(converted), converted.t7_model, x)
    assert report.ok, report.summary()
    assert report.output.shape[0] == 4  # Torch7's View makes one row per 2x2 pooled position


def test_a_loaded_resnet_carries_fb_resnet_torchs_data_config(tmp_path):
    """The bare torchvision state_dict holds no description; the loaded module still says what it eats:
    fb.resnet.torch's ImageNet normalisation and resize, as `t7convert evaluate` reproduces them."""
    from t7convert.imagenet.preprocess import IMAGENET_MEAN, IMAGENET_STD

    src = tmp_path / "m.t7"
    synthesize_file("resnext_tiny", str(src))
    api.convert(str(src), str(tmp_path / "m.pth"))
    config = t7convert.load(str(tmp_path / "m.pth")).data_config
    assert config["input_size"] == [3, 224, 224] and config["crop"] == 224 and config["resize"] == 256
    assert tuple(config["mean"]) == IMAGENET_MEAN and tuple(config["std"]) == IMAGENET_STD
