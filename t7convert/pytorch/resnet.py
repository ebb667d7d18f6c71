"""ResNet and ResNeXt with torchvision's module names, parameterised like fb.resnet.torch's models.

One class covers ResNet-18..200 and ResNeXt (``groups``, ``width_per_group``) as torchvision's
``resnet.py`` does, plus what fb.resnet.torch and the ResNeXt code vary and torchvision fixes: stage
widths, stem width, shortcut type C (a projection in every block) and the CIFAR trunk (3x3 stem, no
max-pool, three stages). With torchvision's configuration the state_dict keys and shapes are exactly
torchvision's, so ``torchvision.models.resnext101_64x4d().load_state_dict(sd)`` accepts it. The head
is Torch7's (fixed average pooling, nn.View), so this module equals the Torch7 model at any input size.
"""
from __future__ import annotations

import torch
from torch import nn

from t7convert.conversion.resnet_spec import ResNetSpec
from t7convert.pytorch.families.shape import View


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: bool, groups: int = 1,
                 width_per_group: int = 64) -> None:
        super().__init__()
        if groups != 1 or width_per_group != 64:
            raise ValueError("basic blocks have groups=1 and width_per_group=64")
        self.conv1 = _conv(inplanes, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _projection(inplanes, planes, stride) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """fb.resnet.torch's bottleneck: the stride on the 3x3 convolution (torchvision's "ResNet V1.5")."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: bool, groups: int = 1,
                 width_per_group: int = 64) -> None:
        super().__init__()
        width = int(planes * (width_per_group / 64.0)) * groups
        self.conv1 = _conv(inplanes, width, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv(width, width, 3, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv(width, planes * self.expansion, 1)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(inplanes, planes * self.expansion, stride) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _projection(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(nn.Module):
    """torchvision's ResNet layout, with the options fb.resnet.torch's models use."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.spec = spec
        block = Bottleneck if spec.block == "bottleneck" else BasicBlock
        if spec.stem == "imagenet":
            self.conv1 = nn.Conv2d(3, spec.stem_width, 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, spec.stem_width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(spec.stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if spec.stem == "imagenet" else None
        inplanes = spec.stem_width
        for i, (n, planes) in enumerate(zip(spec.layers, spec.widths), 1):
            blocks = []
            for j in range(n):
                stride = 2 if (j == 0 and i > 1) else 1
                out = planes * block.expansion
                downsample = spec.shortcut == "C" or stride != 1 or inplanes != out
                blocks.append(block(inplanes, planes, stride, downsample, spec.groups, spec.width_per_group))
                inplanes = out
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
        # Torch7's head, not torchvision's adaptive pooling: Avg(7,7,1,1) (8x8 for CIFAR) and
        # View(nFeatures):setNumInputDims(3). At the native input size (224, or 32) both are the global
        # average; at other sizes this module computes what the Torch7 model computed. Neither has
        # parameters, so the state_dict stays torchvision's.
        self.avgpool = nn.AvgPool2d(7 if spec.stem == "imagenet" else 8, 1)
        self.flatten = View([inplanes], 3)
        self.fc = nn.Linear(inplanes, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        for i in range(1, len(self.spec.layers) + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(self.flatten(self.avgpool(x)))

    def stage_modules(self) -> list[tuple[str, nn.Module]]:
        """(Torch7 path, submodule) pairs: fb.resnet.torch's top-level modules and residual blocks."""
        top: list[tuple[str, nn.Module]] = [("conv1", self.conv1), ("bn1", self.bn1), ("relu", self.relu)]
        if self.maxpool is not None:
            top.append(("maxpool", self.maxpool))
        top += [(f"layer{i}", getattr(self, f"layer{i}")) for i in range(1, len(self.spec.layers) + 1)]
        top += [("avgpool", self.avgpool), ("flatten", self.flatten), ("fc", self.fc)]
        out: list[tuple[str, nn.Module]] = []
        for index, (name, module) in enumerate(top, 1):
            out.append((f"modules[{index}]", module))
            if name.startswith("layer"):
                out += [(f"modules[{index}].modules[{j}]", blk) for j, blk in enumerate(module, 1)]
        return out
