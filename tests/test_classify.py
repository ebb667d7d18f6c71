"""``classify``: top-5 classes with probabilities and names, printed as classify.lua prints them."""
from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import t7convert
from t7convert.cli import (
    classify_cmd,  # noqa: F401  (registers the command)
    cli,
)
from t7convert.imagenet.classify import classify, format_like_classify_lua

# The example in fb.resnet.torch's pretrained/README.md, as (0-based index, probability).
README_EXAMPLE = [(285, 0.77302575111389), (281, 0.060410376638174), (282, 0.040622022002935),
                  (287, 0.025837801396847), (904, 0.018691379576921)]


class FixedBeliefs(torch.nn.Module):
    """Returns logits whose softmax is the README example, whatever the image, after checking that
    the image arrived preprocessed (1 x 3 x 224 x 224, normalised)."""

    def __init__(self) -> None:
        super().__init__()
        probabilities = torch.full((1000,), (1 - sum(p for _, p in README_EXAMPLE)) / 995, dtype=torch.float64)
        for index, p in README_EXAMPLE:
            probabilities[index] = p
        self.register_buffer("logits", probabilities.log().float())
        self.inputs: list[tuple[int, ...]] = []
        self.images: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(tuple(x.shape))
        self.images.append(x.detach().clone())
        return self.logits.expand(x.shape[0], -1)


@pytest.fixture
def cat(tmp_path):
    path = tmp_path / "cat.jpg"
    Image.new("RGB", (480, 384), (120, 100, 80)).save(path, quality=90)
    return path


def test_top5_comes_with_imagenet_names_and_probabilities(cat):
    model = FixedBeliefs()
    (result,) = classify(model, [cat], device="cpu")
    assert model.inputs == [(1, 3, 224, 224)]
    # the image arrived through fb.resnet.torch's validation transform (scaled, normalised, cropped)
    from t7convert.imagenet import preprocess as pp
    assert torch.equal(model.images[0][0], pp.val_transform()(pp.load_image(cat)))
    assert [p.index for p in result.predictions] == [i for i, _ in README_EXAMPLE]
    assert [p.name for p in result.predictions] == [
        "Egyptian cat", "tabby, tabby cat", "tiger cat", "lynx, catamount", "window screen"]
    for got, (_, want) in zip(result.predictions, README_EXAMPLE):
        assert math.isclose(got.probability, want, rel_tol=1e-5)


@pytest.mark.slow
def test_output_reads_like_classify_lua(cat, tmp_path):
    second = tmp_path / "sub" / "dog.png"
    second.parent.mkdir()
    Image.new("RGB", (300, 200), (10, 20, 30)).save(second)
    text = format_like_classify_lua(classify(FixedBeliefs(), [cat, second], device="cpu"))
    blocks = text.split("\n\n")
    assert blocks[0].splitlines()[0] == f"Classes for\t{cat}"  # the path as given, tab-separated
    assert blocks[1].splitlines()[0] == f"Classes for\t{second}"
    first_line = blocks[0].splitlines()[1]
    probability, name = first_line.split("\t")
    assert name == "Egyptian cat"
    assert probability == format(float(probability), ".14g") and probability.startswith("0.7730")
    assert text.endswith("\n\n") and len(blocks[0].splitlines()) == 6


def test_cli_prints_the_same_and_names_unreadable_images(cat, tmp_path, monkeypatch):
    model_file = tmp_path / "resnet-101.t7"
    model_file.write_bytes(b"stand-in: t7convert.load is replaced below")
    monkeypatch.setattr(t7convert, "load", lambda path, **kw: FixedBeliefs())
    ok = CliRunner().invoke(cli, ["classify", str(model_file), str(cat), "--device", "cpu"])
    assert ok.exit_code == 0, ok.output
    lines = ok.output.splitlines()
    assert lines[0] == f"Classes for\t{cat}" and lines[1].endswith("\tEgyptian cat") and len(lines) == 7

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really")
    bad = CliRunner().invoke(cli, ["classify", str(model_file), str(broken), "--device", "cpu"])
    assert bad.exit_code == 2
    assert "broken.jpg" in bad.output and "cannot decode" in bad.output


def test_a_broken_image_among_others_is_reported_and_the_others_are_classified(cat, tmp_path, monkeypatch):
    model_file = tmp_path / "resnet-101.t7"
    model_file.write_bytes(b"stand-in: t7convert.load is replaced below")
    monkeypatch.setattr(t7convert, "load", lambda path, **kw: FixedBeliefs())
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really")
    r = CliRunner().invoke(cli, ["classify", str(model_file), str(cat), str(broken), str(cat), "--device", "cpu"])
    assert r.exit_code == 2
    assert r.output.count("Classes for") == 2                     # both good images, around the broken one
    assert "1 of 3 images could not be read" in r.output and "broken.jpg" in r.output


def test_a_model_that_is_not_1000_way_gets_numbered_classes(cat):
    three_way = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 3))
    (result,) = classify(three_way, [cat], device="cpu")
    assert sorted(p.name for p in result.predictions) == ["class 0", "class 1", "class 2"]
    assert math.isclose(sum(p.probability for p in result.predictions), 1.0, rel_tol=1e-6)


def test_classify_takes_a_folder_of_images_as_well_as_files(cat, tmp_path, monkeypatch):
    model_file = tmp_path / "resnet-101.t7"
    model_file.write_bytes(b"stand-in: t7convert.load is replaced below")
    monkeypatch.setattr(t7convert, "load", lambda path, **kw: FixedBeliefs())
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, colour in (("b.png", (1, 2, 3)), ("a.JPG", (9, 8, 7))):
        Image.new("RGB", (64, 48), colour).save(folder / name, format="PNG" if name.endswith("png") else "JPEG")
    (folder / "notes.txt").write_text("not an image")
    r = CliRunner().invoke(cli, ["classify", str(model_file), str(folder), str(cat), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    heads = [line for line in r.output.splitlines() if line.startswith("Classes for")]
    assert heads == [f"Classes for\t{folder / 'a.JPG'}", f"Classes for\t{folder / 'b.png'}", f"Classes for\t{cat}"]
    empty = tmp_path / "empty"
    empty.mkdir()
    r = CliRunner().invoke(cli, ["classify", str(model_file), str(empty), "--device", "cpu"])
    assert r.exit_code == 2 and "a folder without images" in r.output
