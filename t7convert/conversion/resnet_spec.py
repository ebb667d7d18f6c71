"""The architecture of a ResNet/ResNeXt as plain data (no torch): what distinguishes one from another."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable


@dataclass
class ResNetSpec:
    """Everything that distinguishes one ResNet/ResNeXt from another; stored with converted files."""

    block: str                       # "basic" or "bottleneck"
    layers: list[int]                # blocks per stage
    widths: list[int] = field(default_factory=lambda: [64, 128, 256, 512])
    groups: int = 1
    width_per_group: int = 64
    num_classes: int = 1000
    stem: str = "imagenet"           # "imagenet": 7x7/2 + max-pool; "cifar": 3x3/1, no pool
    stem_width: int = 64
    shortcut: str = "B"              # "B": projection where the shape changes; "C": in every block

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ResNetSpec":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    @property
    def depth(self) -> int:
        per_block = 3 if self.block == "bottleneck" else 2
        return per_block * sum(self.layers) + 2

    @property
    def torchvision_name(self) -> str | None:
        """The torchvision builder with exactly this architecture, if there is one."""
        if (self.stem, self.stem_width, self.widths, self.shortcut, self.num_classes) != (
                "imagenet", 64, [64, 128, 256, 512], "B", 1000):
            return None
        names = {("basic", (2, 2, 2, 2), 1, 64): "resnet18", ("basic", (3, 4, 6, 3), 1, 64): "resnet34",
                 ("bottleneck", (3, 4, 6, 3), 1, 64): "resnet50", ("bottleneck", (3, 4, 23, 3), 1, 64): "resnet101",
                 ("bottleneck", (3, 8, 36, 3), 1, 64): "resnet152",
                 ("bottleneck", (3, 4, 6, 3), 32, 4): "resnext50_32x4d",
                 ("bottleneck", (3, 4, 23, 3), 32, 8): "resnext101_32x8d",
                 ("bottleneck", (3, 4, 23, 3), 64, 4): "resnext101_64x4d",
                 ("bottleneck", (3, 4, 6, 3), 1, 128): "wide_resnet50_2",
                 ("bottleneck", (3, 4, 23, 3), 1, 128): "wide_resnet101_2"}
        return names.get((self.block, tuple(self.layers), self.groups, self.width_per_group))

    @property
    def torchvision_call(self) -> str | None:
        """Python that builds this architecture with torchvision's keys, where torchvision's ResNet class
        can (ImageNet stem, standard widths, shortcut B) but no named builder exists (ResNeXt-101 32x4d)."""
        if self.torchvision_name:
            return f"torchvision.models.{self.torchvision_name}()"
        if (self.stem, self.stem_width, self.widths, self.shortcut) != ("imagenet", 64, [64, 128, 256, 512], "B"):
            return None
        block = "Bottleneck" if self.block == "bottleneck" else "BasicBlock"
        extra = "" if self.num_classes == 1000 else f", num_classes={self.num_classes}"
        return (f"torchvision.models.resnet.ResNet(torchvision.models.resnet.{block}, {list(self.layers)}, "
                f"groups={self.groups}, width_per_group={self.width_per_group}{extra})")

    @property
    def timm_name(self) -> str | None:
        """timm's model of this architecture (same state_dict keys as torchvision's ResNet), if it has one."""
        name = self.torchvision_name
        if name is None and (self.block, tuple(self.layers), self.groups, self.width_per_group) == (
                "bottleneck", (3, 4, 23, 3), 32, 4) and self.torchvision_call and self.num_classes == 1000:
            name = "resnext101_32x4d"
        return name

    @property
    def title(self) -> str:
        """A human name: "ResNeXt-101 64x4d", "ResNet-50", "ResNet-20 (CIFAR)"."""
        if self.groups > 1:
            name = f"ResNeXt-{self.depth} {self.groups}x{self.width_per_group * self.widths[0] // 64}d"
        else:
            name = f"ResNet-{self.depth}"
            if self.width_per_group != 64:
                name = f"Wide {name} ({self.width_per_group // 64}x)"
        if self.stem == "cifar":
            name += " (CIFAR trunk)"
        if self.shortcut == "C":
            name += ", shortcut C"
        return name


def width_per_group_candidates(planes: int, groups: int, width: int) -> range:
    """The width_per_group values w for which torchvision's ``int(planes * (w / 64.0)) * groups`` is
    ``width``: those with floor(planes * w / 64) == width / groups."""
    if planes <= 0 or groups <= 0 or width % groups:
        return range(0)
    d = width // groups
    lo = -(-64 * d // planes)              # ceil(64 d / planes)
    hi = -(-64 * (d + 1) // planes)        # first w with planes * w / 64 >= d + 1
    return range(max(lo, 1), hi)


def choose_width_per_group(stages: Iterable[tuple[int, int, int]]) -> int | None:
    """The one width_per_group that gives every (planes, groups, width) of a bottleneck network: 64 when
    it fits (torchvision's default), else the smallest; None when no single value fits all stages.
    Recognition and derivation from a state_dict both decide with this, so they agree."""
    common: set[int] | None = None
    for planes, groups, width in stages:
        fits = set(width_per_group_candidates(planes, groups, width))
        common = fits if common is None else common & fits
    if not common:
        return None
    return 64 if 64 in common else min(common)
