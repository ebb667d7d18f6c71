"""The exact Torch7 transform on the device (``--resize-on device``): the same tensors, the same figures.

Everything here runs on the CPU, which is a torch device like any other: the matrices, the
bucketing by size, the packed uint8 transfer and the prefetcher take the same code path they take on
CUDA (only the side stream and pinned memory are CUDA's alone).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from test_evaluate import CASES, GreyLevelClassifier, class_folder_set, expected_errors  # noqa: F401

import t7convert
from t7convert.cli import (
    cli,
    evaluate_cmd,  # noqa: F401  (registers the command)
)
from t7convert.imagenet import pipeline
from t7convert.imagenet import preprocess as pp
from t7convert.imagenet.evaluate import evaluate
from t7convert.imagenet.preprocess import torch_resize as tr

DEVICE_TOLERANCE = 1e-5  # normalised units: the matmuls' float32 sums against scaleCubic_rowcol's order
PNG_TOLERANCE, JPEG_TOLERANCE = 1e-4, 2e-2  # check 06's tolerances against Torch7 itself


def _shared_images(root: Path) -> list[Path]:
    images = sorted(p for p in (root / "torch7" / "preprocess").iterdir()
                    if p.suffix in (".png", ".jpg") and not p.name.endswith(".ref.t7"))
    assert images, "no preprocess images in the fixtures"
    return images


# --- the transform ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_device_transform_equals_the_exact_cpu_transform_and_torch7_on_every_shared_image(torch7_fixtures):
    report = []
    for image in _shared_images(torch7_fixtures):
        references = t7convert.read(str(image) + ".ref.t7")
        loaded = pp.load_image(image)
        for key in ("val", "tencrop"):
            if key not in references:
                continue
            ten = key == "tencrop"
            on_device = tr.val_transform_batch(loaded[None], ten_crop=ten)[0]
            exact = pp.val_transform(ten_crop=ten)(loaded)
            torch7 = torch.from_numpy(np.asarray(references[key]))
            assert on_device.shape == exact.shape == torch7.shape
            to_exact = float((on_device - exact).abs().max())
            to_torch7 = float((on_device - torch7).abs().max())
            report.append(f"{image.name}:{key} {to_exact:.2g}/{to_torch7:.2g}")
            assert to_exact <= DEVICE_TOLERANCE, f"{image.name} {key}: {to_exact}"
            assert to_torch7 <= (PNG_TOLERANCE if image.suffix == ".png" else JPEG_TOLERANCE)
    print("device vs exact / vs Torch7:", ", ".join(report))


@pytest.mark.parametrize("src_hw, dst_wh", [
    ((1, 1), (4, 3)), ((1, 6), (3, 2)), ((2, 2), (5, 7)), ((5, 9), (9, 5)), ((7, 7), (7, 7)),
    ((3, 40), (1, 1)), ((375, 500), (341, 256)), ((13, 4), (4, 13)), ((10, 3), (3, 10)),
])
def test_matrix_resize_equals_scale_bicubic_on_edge_sizes(src_hw, dst_wh):
    image = torch.rand(3, *src_hw, generator=torch.Generator().manual_seed(sum(src_hw)))
    image[1] *= 40  # float images are neither clamped nor rounded; the overshoot must agree too
    exact = pp.scale_bicubic(image, *dst_wh)
    batched = tr.scale_bicubic_batch(image[None], *dst_wh)[0]
    scale = max(1.0, float(image.abs().max()))
    assert batched.shape == exact.shape
    assert float((batched - exact).abs().max()) <= 1e-6 * scale


def test_matrices_are_built_once_per_input_size():
    first = tr.interpolation_matrix(375, 256)
    assert tr.interpolation_matrix(375, 256) is first
    assert first.dtype == torch.float32 and first.shape == (256, 375)
    # every row of Catmull-Rom weights sums to one, border extrapolation included
    assert torch.allclose(first.double().sum(dim=1), torch.ones(256, dtype=torch.float64), atol=1e-6)


def test_center_and_ten_crop_of_a_batch_follow_fb_resnet_torch():
    images = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).view(2, 3, 5, 7)
    for i in range(2):
        assert torch.equal(tr.center_crop_batch(images, 3)[i], pp.center_crop(images[i], 3))
        assert torch.equal(tr.ten_crop_batch(images, 3)[i], pp.ten_crop(images[i], 3))
    with pytest.raises(ValueError, match="does not fit"):
        tr.center_crop_batch(images, 6)


@pytest.mark.slow
def test_a_batch_of_mixed_sizes_is_resized_size_by_size_and_kept_in_order():
    g = torch.Generator().manual_seed(1)
    sizes = [(300, 260), (260, 400), (300, 260), (256, 256), (333, 500), (260, 400)]
    images = [torch.rand(3, h, w, generator=g) for h, w in sizes]
    for ten in (False, True):
        batch = pipeline._transform_buckets(images, ten)
        for image, got in zip(images, batch):
            assert float((got - pp.val_transform(ten_crop=ten)(image)).abs().max()) <= DEVICE_TOLERANCE


def test_workers_hand_over_samples_that_the_device_scales_exactly_as_image_load(tmp_path):
    rng = np.random.default_rng(0)
    grey = tmp_path / "grey.png"
    Image.fromarray(rng.integers(0, 256, (260, 300), dtype=np.uint8)).save(grey)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(rng.integers(0, 256, (270, 280, 4), dtype=np.uint8), "RGBA").save(rgba)
    deep = tmp_path / "sixteen.png"
    Image.fromarray(rng.integers(0, 65536, (257, 259), dtype=np.uint16)).save(deep)  # 16-bit grey
    photo = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)).save(photo, quality=90)
    paths = [grey, rgba, deep, photo]
    items = [(pipeline._decoded(str(p)), 0, str(p), None) for p in paths]
    batch = pipeline._collate_samples(items)
    assert batch.packed is not None and batch.packed.dtype == torch.uint8  # one buffer, one transfer
    images, kept, failures = pipeline._unpack(batch, torch.device("cpu"))
    assert kept == [0, 1, 2, 3] and failures == []
    for path, image in zip(paths, images):
        assert torch.equal(image, pp.load_image(path)), path.name


# --- evaluate ---------------------------------------------------------------------------------------

class _SmallConvNet(torch.nn.Module):
    """A deterministic random model whose 8 scores depend on every pixel's exact value."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 7, stride=4), torch.nn.ReLU(),
                                            torch.nn.AdaptiveAvgPool2d(4))
        self.fc = torch.nn.Linear(128, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))


def _shared_image_set(fixtures: Path, root: Path) -> Path:
    """The shared photos and scenes in 8 class folders, two per folder."""
    images = _shared_images(fixtures)
    for i in range(8):
        (root / f"class{i}").mkdir(parents=True)
    for i, image in enumerate(images * 2):
        shutil.copy(image, root / f"class{i % 8}" / f"{i}_{image.name}")
    return root


@pytest.mark.slow
def test_shared_fixtures_give_identical_figures_with_the_resize_on_device_or_cpu(torch7_fixtures, tmp_path):
    root = _shared_image_set(torch7_fixtures, tmp_path / "val")
    model = _SmallConvNet()
    for ten_crop in (False, True):
        runs = {where: evaluate(model, root, device="cpu", workers=0, batch_size=5, ten_crop=ten_crop,
                                resize_on=where) for where in ("cpu", "device")}
        cpu, device = runs["cpu"], runs["device"]
        assert (device.resize_on, cpu.resize_on) == ("device", "cpu")
        assert (device.images, device.top1_correct, device.top5_correct) == \
               (cpu.images, cpu.top1_correct, cpu.top5_correct)
        assert device.images == cpu.total_images


@pytest.mark.slow
def test_grey_level_set_gets_its_built_in_accuracy_on_the_device_path(class_folder_set):  # noqa: F811
    root, model = class_folder_set
    for ten_crop in (False, True):
        result = evaluate(model, root, device="cpu", workers=2, batch_size=3, ten_crop=ten_crop,
                          resize_on="device")
        assert (result.top1_error, result.top5_error) == expected_errors(CASES)


def test_bf16_autocast_and_channels_last_run_on_the_cpu(class_folder_set):  # noqa: F811
    root, model = class_folder_set
    result = evaluate(model, root, device="cpu", workers=0, amp="bf16", channels_last=True, resize_on="device")
    assert result.amp == "bf16" and result.images == len(CASES)


def test_an_unreadable_image_is_listed_on_the_device_path_too(class_folder_set):  # noqa: F811
    root, model = class_folder_set
    bad = root / "apple" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    result = evaluate(model, root, device="cpu", workers=0, batch_size=4, resize_on="device")
    assert [path for path, _ in result.unreadable] == [str(bad)]
    assert result.images == len(CASES)


def test_a_batch_larger_than_the_set_is_one_batch_and_says_so(class_folder_set):  # noqa: F811
    root, model = class_folder_set
    result = evaluate(model, root, device="cpu", workers=0, batch_size=1000, resize_on="device")
    assert result.images == len(CASES)
    assert any("larger than the 8 images" in w for w in result.warnings)


def test_nvjpeg_path_decodes_jpeg_bytes_on_the_device_and_falls_back_to_pillow(tmp_path, monkeypatch):
    """The batching around ``torchvision.io.decode_jpeg``, with Pillow standing in for nvjpeg."""
    rng = np.random.default_rng(2)
    photo, png = tmp_path / "a.jpg", tmp_path / "b.png"
    Image.fromarray(rng.integers(0, 256, (300, 280, 3), dtype=np.uint8)).save(photo, quality=90)
    Image.fromarray(rng.integers(0, 256, (260, 270, 3), dtype=np.uint8)).save(png)

    def pillow_for_nvjpeg(data, device):  # decode_jpeg(mode=UNCHANGED) gives C x H x W uint8
        return [None] + [torch.from_numpy(np.array(Image.open(pipeline.io.BytesIO(bytes(d.numpy())))))
                         .permute(2, 0, 1) for d in data[1:]]

    monkeypatch.setattr(pipeline, "_decode_jpegs", pillow_for_nvjpeg)
    paths = [photo, png, photo]
    items = [(pipeline._bytes_or_decoded(str(p)), 0, str(p), None) for p in paths]
    assert isinstance(items[0][0], pipeline._JpegBytes) and not isinstance(items[1][0], pipeline._JpegBytes)
    images, kept, failures = pipeline._unpack(pipeline._collate_samples(items), torch.device("cpu"))
    assert kept == [0, 1, 2] and failures == []  # the first JPEG "failed" on the GPU: Pillow decoded it
    for path, image in zip(paths, images):
        assert torch.equal(image, pp.load_image(path))


# --- the command line ---------------------------------------------------------------------------------

def _cli(args: list[str], model: torch.nn.Module, tmp_path: Path, monkeypatch):
    model_file = tmp_path / "model.pth"
    model_file.write_bytes(b"stand-in: t7convert.load is replaced")
    monkeypatch.setattr(t7convert, "load", lambda path, **kw: model)
    return CliRunner().invoke(cli, ["evaluate", str(model_file), "--workers", "0", "--no-progress", *args])


def test_cli_resize_on_and_amp_reach_the_report(class_folder_set, tmp_path, monkeypatch):  # noqa: F811
    root, model = class_folder_set
    result = _cli(["--data", str(root), "--device", "cpu", "--resize-on", "device", "--amp", "bf16",
                   "--json", "-"], model, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["resize_on"], report["amp"], report["decode"], report["processes"]) == \
           ("device", "bf16", "pillow", 1)
    assert report["top1_error"] == expected_errors(CASES)[0]


def test_cli_default_resize_is_on_the_cpu_without_cuda(class_folder_set, tmp_path, monkeypatch):  # noqa: F811
    if torch.cuda.is_available():
        pytest.skip("the default is the device when CUDA is present")
    root, model = class_folder_set
    result = _cli(["--data", str(root), "--json", "-"], model, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["resize_on"] == "cpu"


@pytest.mark.parametrize("args, message", [
    (["--decode", "nvjpeg", "--device", "cpu"], "decodes on a CUDA device"),
    (["--resize-on", "device", "--interpolation", "pil", "--device", "cpu"], "--resize-on cpu"),
    (["--amp", "fp8"], "'fp8' is not one of"),
])
def test_cli_refuses_combinations_it_cannot_run_in_one_line(class_folder_set, tmp_path, monkeypatch,  # noqa: F811
                                                             args, message):
    root, model = class_folder_set
    result = _cli(["--data", str(root), *args], model, tmp_path, monkeypatch)
    assert result.exit_code == 2 and message in result.output, result.output


def test_nvjpeg_without_torchvision_is_a_clean_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torchvision(name, *args, **kwargs):
        if name.startswith("torchvision"):
            raise ImportError("No module named 'torchvision'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torchvision)
    with pytest.raises(t7convert.T7ConvertError, match="needs torchvision"):
        pipeline.check_decoder("nvjpeg", torch.device("cuda"))
