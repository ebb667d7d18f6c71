"""Deriving a ResNet/ResNeXt architecture from torchvision-layout state_dict keys and shapes.

A canonical converted ``.pth`` is a bare state_dict (so that torchvision's ``load_state_dict`` takes it
as it is); the architecture is derivable from it, and this is where it is derived.
"""
from __future__ import annotations

import re
from typing import Mapping

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.resnet_spec import ResNetSpec, choose_width_per_group
from t7convert.pytorch.resnet import ResNet

_BLOCK = re.compile(r"^layer(\d+)\.(\d+)\.")


def spec_from_state_dict(sd: Mapping[str, object]) -> ResNetSpec:
    """The ResNetSpec whose module has exactly these keys and shapes; T7ConvertError if there is none."""
    def shape(key: str) -> tuple[int, ...]:
        if key not in sd:
            raise T7ConvertError(f"not a torchvision-layout ResNet state_dict: no {key}")
        return tuple(sd[key].shape)  # type: ignore[attr-defined]

    stem_w = shape("conv1.weight")
    blocks = _blocks(sd)
    bottleneck = "layer1.0.conv3.weight" in sd
    layers = [blocks[s] for s in sorted(blocks)]
    widths, groups, wpg, stage_widths = [], 1, 64, []
    for s in range(1, len(layers) + 1):
        if bottleneck:
            out = shape(f"layer{s}.0.conv3.weight")[0]
            c2 = shape(f"layer{s}.0.conv2.weight")
            planes, width = out // 4, c2[0]
            if len(c2) != 4 or c2[1] <= 0 or width % c2[1]:
                raise T7ConvertError(f"layer{s}.0.conv2.weight has shape {c2}, not a grouped 3x3 convolution's")
            groups = width // c2[1]
            widths.append(planes)
            stage_widths.append((planes, groups, width))
        else:
            widths.append(shape(f"layer{s}.0.conv1.weight")[0])
    if bottleneck:
        chosen = choose_width_per_group(stage_widths)
        if chosen is None:
            raise T7ConvertError("bottleneck widths that no single width_per_group produces")
        wpg = chosen
    projected_everywhere = all(f"layer{s}.{b}.downsample.0.weight" in sd
                               for s in range(1, len(layers) + 1) for b in range(layers[s - 1]))
    spec = ResNetSpec(block="bottleneck" if bottleneck else "basic", layers=layers, widths=widths, groups=groups,
                      width_per_group=wpg, num_classes=shape("fc.weight")[0],
                      stem="imagenet" if stem_w[2:] == (7, 7) else "cifar", stem_width=stem_w[0],
                      shortcut="B")
    if projected_everywhere and not _same_keys(spec, sd):
        spec.shortcut = "C"
    if not _same_keys(spec, sd):
        raise T7ConvertError("the state_dict's keys and shapes match no ResNet/ResNeXt t7convert can build")
    return spec


def _blocks(sd: Mapping[str, object]) -> dict[int, int]:
    """{stage: number of blocks} from the ``layer{s}.{b}.`` keys, numbered as torchvision numbers them (stages
    from 1, blocks from 0, no gaps): a key naming block 99999999 is refused here, before any module of that
    many blocks is built, even on the meta device."""
    indices: dict[int, set[int]] = {}
    for key in sd:
        m = _BLOCK.match(key)
        if m and len(m.group(1)) < 4 and len(m.group(2)) < 6:
            indices.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
        elif m:
            raise T7ConvertError(f"not a torchvision-layout ResNet state_dict: a key names {key.split('.')[0]} "
                                 f"block {m.group(2)[:20]}")
    if not indices or sorted(indices) != list(range(1, len(indices) + 1)):
        raise T7ConvertError("not a torchvision-layout ResNet state_dict: no layer1, layer2, ... blocks")
    for stage, found in indices.items():
        if found != set(range(len(found))):
            last = max(found)
            raise T7ConvertError(f"not a torchvision-layout ResNet state_dict: layer{stage} has {len(found)} blocks "
                                 f"but a key names block {last}")
    return {stage: len(found) for stage, found in indices.items()}


def _same_keys(spec: ResNetSpec, sd: Mapping[str, object]) -> bool:
    import torch

    with torch.device("meta"):  # shapes only: no memory, no initialisation
        module = ResNet(spec)
    want = {k: tuple(v.shape) for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
    got = {k: tuple(v.shape) for k, v in sd.items() if not k.endswith("num_batches_tracked")}  # type: ignore[attr-defined]
    return want == got
