"""The error rates the authors published, and how a measured result compares with them.

The figures live as data in the repository's ``reference/published_errors.json``, each table with
the URL (at a fixed commit) and heading it was copied from, so that a reader can check them and a
correction is a data change. Installed, that folder becomes the package data
``t7convert/_reference``; in a source checkout (editable install) it is read in place.
"""
from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from t7convert.common.errors import T7ConvertError

__all__ = ["PublishedRow", "Comparison", "DEFAULT_TOLERANCE", "published_rows", "known_architectures",
           "find_published", "architecture_from_name", "compare", "reference_file"]

DATA_FILE = "published_errors.json"
# Percentage points. The READMEs round to 0.1 (ResNeXt) or 0.01 (fb.resnet.torch), and a handful of
# the 50,000 predictions may flip with GPU arithmetic; a faithful conversion stays well inside this.
DEFAULT_TOLERANCE = 0.15


@dataclass(frozen=True)
class PublishedRow:
    model: str             # as the table writes it, e.g. "ResNeXt-101 (64x4d)"
    architecture: str      # t7convert's name, e.g. "resnext101_64x4d"
    aliases: tuple[str, ...]
    crops: int             # 1 or 10
    top1: float
    top5: float | None
    images: int            # size of the evaluation set the figures are for
    source: str            # e.g. "fb.resnet.torch"
    title: str
    url: str
    heading: str
    note: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["aliases"] = list(self.aliases)
        return d


def reference_file() -> Path:
    """The published tables, shipped as package data (``reference/`` installs as ``t7convert._reference``)."""
    from importlib import resources

    try:
        candidate = Path(str(resources.files("t7convert._reference") / DATA_FILE))
    except ModuleNotFoundError:  # an editable install of a source checkout: reference/ beside the package
        candidate = Path(__file__).resolve().parents[2] / "reference" / DATA_FILE
    if not candidate.is_file():
        raise T7ConvertError(f"the published error tables ({DATA_FILE}) are missing; reinstall t7convert")
    return candidate


@functools.lru_cache(maxsize=None)
def published_rows() -> tuple[PublishedRow, ...]:
    """Every published row, in the data file's order (fb.resnet.torch's own tables first)."""
    path = reference_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        images = int(data["dataset"]["images"])
        rows = []
        for source in data["sources"]:
            for table in source["tables"]:
                for row in table["rows"]:
                    rows.append(PublishedRow(
                        model=row["model"], architecture=row["architecture"],
                        aliases=tuple(row.get("aliases", ())), crops=int(table["crops"]),
                        top1=float(row["top1"]),
                        top5=None if row.get("top5") is None else float(row["top5"]),
                        images=images, source=source["id"], title=source["title"], url=source["url"],
                        heading=table["heading"], note=row.get("note")))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise T7ConvertError(f"{path}: malformed published table: {e}") from None
    return tuple(rows)


def known_architectures() -> list[str]:
    seen: dict[str, None] = {}
    for row in published_rows():
        seen.setdefault(row.architecture, None)
    return list(seen)


def _key(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def architecture_from_name(text: str) -> str | None:
    """The architecture a name or file name refers to: ``resnext_101_64x4d.t7`` -> ``resnext101_64x4d``.

    Compares with punctuation and case removed; a name may carry more around the architecture
    (``my-resnet-50-converted.pth``) as long as no digit continues it (``resnet-1014`` is not
    ResNet-101). The longest match wins.
    """
    stem = Path(text).name
    for suffix in (".t7", ".pth", ".pt", ".safetensors", ".th"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    key = _key(stem)
    best: tuple[int, str] | None = None
    for row in published_rows():
        for alias in (row.architecture, *row.aliases):
            alias_key = _key(alias)
            for match in re.finditer(re.escape(alias_key), key):
                after = key[match.end():match.end() + 1]
                if after.isdigit():
                    continue
                if best is None or len(alias_key) > best[0]:
                    best = (len(alias_key), row.architecture)
    return best[1] if best else None


def find_published(architecture: str, crops: int) -> list[PublishedRow]:
    """Rows for ``architecture`` at ``crops`` (1 or 10); the first is the model file's own source."""
    return [r for r in published_rows() if r.architecture == architecture and r.crops == crops]


@dataclass
class Comparison:
    """A measured result against the published row, with a verdict a script can act on."""

    architecture: str | None
    row: PublishedRow | None
    also_published: list[PublishedRow]
    top1_error: float
    top5_error: float
    tolerance: float
    verdict: str  # "matches", "differs", "not comparable", "no published figure"
    reason: str

    @property
    def top1_difference(self) -> float | None:
        return None if self.row is None else self.top1_error - self.row.top1

    @property
    def top5_difference(self) -> float | None:
        if self.row is None or self.row.top5 is None:
            return None
        return self.top5_error - self.row.top5

    def to_dict(self) -> dict:
        return {
            "architecture": self.architecture,
            "published": None if self.row is None else self.row.to_dict(),
            "also_published": [r.to_dict() for r in self.also_published],
            "top1_difference": self.top1_difference,
            "top5_difference": self.top5_difference,
            "tolerance": self.tolerance,
            "verdict": self.verdict,
            "reason": self.reason,
        }


def compare(architecture: str | None, crops: int, top1_error: float, top5_error: float, images: int,
            tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    """Compare measured errors (percent) over ``images`` images with the published figures.

    The verdict is given only for a run over the whole set the figures are for: errors over a
    subset (``--limit``, or images that could not be read) are shown but not judged.
    """
    rows = find_published(architecture, crops) if architecture else []
    row = rows[0] if rows else None
    result = Comparison(architecture, row, rows[1:], top1_error, top5_error, tolerance, "", "")
    if row is None:
        what = f"{architecture} at {crops} crop(s)" if architecture else "this model (name it with --expect)"
        result.verdict, result.reason = "no published figure", f"no published figure for {what}"
        return result
    if images != row.images:
        result.verdict = "not comparable"
        result.reason = f"evaluated {images:,} of the {row.images:,} images the published figures are for"
        return result
    differences = [d for d in (result.top1_difference, result.top5_difference) if d is not None]
    worst = max(abs(d) for d in differences)
    if math.isnan(worst) or worst > tolerance:
        result.verdict = "differs"
        result.reason = f"differs from {row.source} by {worst:.2f} points (tolerance {tolerance:g})"
    else:
        result.verdict = "matches"
        result.reason = f"within {tolerance:g} points of {row.source}"
    return result
