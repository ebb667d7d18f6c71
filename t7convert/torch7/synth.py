"""Synthesize fb.resnet.torch / ResNeXt checkpoints with random weights, laid out as the originals.

The module tree follows fb.resnet.torch's ``models/resnet.lua`` and ResNeXt's ``models/resnext.lua``
(cudnn convolutions, ReLUs and average pooling, nn batch norm and max pooling); each module carries the
fields those classes have after ``clearState()`` (the shared Torch7 fixtures show them), and weights are
laid out as fb.resnet.torch's ``checkpoints.lua`` leaves them: ``getParameters()`` has flattened every
weight and bias into ONE FloatStorage, in module order, and the gradients into a second one. The released
ResNeXt files also nest the first six layers of each residual branch in an inner ``nn.Sequential``.

Used for demos, tests and benchmarks: a full-size resnext_101_64x4d is the 669 MB file users hold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from t7convert.common.errors import T7ConvertError
from t7convert.torch7.format import T7Object, T7Table, as_storage, write


@dataclass(frozen=True)
class Arch:
    """One synthesizable architecture (the options of the Lua model definitions)."""

    trunk: str                  # "imagenet" or "cifar"
    block: str                  # "basic", "bottleneck" (ResNet), "resnext"
    stages: tuple[int, ...]     # blocks per stage
    widths: tuple[int, ...]     # planes per stage
    stem_width: int = 64
    cardinality: int = 1
    base_width: int = 64
    form: str = "C"             # ResNeXt form B (split + JoinTable) or C (grouped convolution)
    shortcut: str = "B"
    nested: bool = False        # the released ResNeXt files' inner Sequential
    num_classes: int = 1000
    description: str = ""


_IMAGENET = (64, 128, 256, 512)
ARCHS: dict[str, Arch] = {
    "resnext_50_32x4d": Arch("imagenet", "resnext", (3, 4, 6, 3), _IMAGENET, cardinality=32, base_width=4, nested=True,
                             description="the architecture of the released ResNeXt-50 32x4d"),
    "resnext_101_32x4d": Arch("imagenet", "resnext", (3, 4, 23, 3), _IMAGENET, cardinality=32, base_width=4,
                              nested=True, description="the architecture of the released ResNeXt-101 32x4d"),
    "resnext_101_64x4d": Arch("imagenet", "resnext", (3, 4, 23, 3), _IMAGENET, cardinality=64, base_width=4,
                              nested=True, description="the architecture of the released ResNeXt-101 64x4d"),
    "resnet_18": Arch("imagenet", "basic", (2, 2, 2, 2), _IMAGENET, description="fb.resnet.torch ResNet-18"),
    "resnet_34": Arch("imagenet", "basic", (3, 4, 6, 3), _IMAGENET, description="fb.resnet.torch ResNet-34"),
    "resnet_50": Arch("imagenet", "bottleneck", (3, 4, 6, 3), _IMAGENET, description="fb.resnet.torch ResNet-50"),
    "resnet_101": Arch("imagenet", "bottleneck", (3, 4, 23, 3), _IMAGENET, description="fb.resnet.torch ResNet-101"),
    "resnet_152": Arch("imagenet", "bottleneck", (3, 8, 36, 3), _IMAGENET, description="fb.resnet.torch ResNet-152"),
    # small ones, for demos and tests
    "resnext_tiny": Arch("imagenet", "resnext", (1, 1, 1, 1), (16, 32, 64, 128), stem_width=16, cardinality=32,
                         base_width=4, nested=True, description="ResNeXt 32x1d, ImageNet trunk, widths / 4, 1 block per stage"),
    "resnext_tiny_b": Arch("imagenet", "resnext", (1, 1, 1, 1), (16, 32, 64, 128), stem_width=16, cardinality=4,
                           base_width=16, form="B",
                           description="ResNeXt 4x4d with form B branches (split, transform, join), ImageNet trunk, "
                                       "widths / 4, 1 block per stage"),
    "resnet_tiny": Arch("imagenet", "basic", (1, 1, 1, 1), (16, 32, 64, 128), stem_width=16,
                        description="basic-block ResNet, ImageNet trunk, widths / 4"),
    "resnext_cifar_tiny": Arch("cifar", "resnext", (1, 1, 1), (16, 32, 64), stem_width=16, cardinality=4,
                               base_width=16, num_classes=10, description="ResNeXt CIFAR trunk, tiny"),
    "resnet20_cifar": Arch("cifar", "basic", (3, 3, 3), (16, 32, 64), stem_width=16, shortcut="A", num_classes=10,
                           description="fb.resnet.torch CIFAR ResNet-20, shortcut A (generic graph)"),
}


def _empty() -> np.ndarray:
    return np.empty((0,), np.float32)


def _long_storage(values: list[int]):
    return as_storage(np.array(values, np.int64))


@dataclass
class _Builder:
    """Builds the module tree; parameters are recorded in module order and laid out flat afterwards."""

    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    batch: int = 32
    params: list[tuple[T7Object, str, tuple[int, ...], Callable[[np.random.Generator, tuple], np.ndarray]]] = \
        field(default_factory=list)

    def module(self, cls: str, version: int = 1, *, grad_input: Any = "tensor", **fields: Any) -> T7Object:
        f = T7Table()
        if grad_input == "tensor":
            f["gradInput"] = _empty()
        elif grad_input == "table":
            f["gradInput"] = T7Table()
        f.update(output=_empty(), _type="torch.FloatTensor", train=False)
        f.update(fields)
        return T7Object(cls, version, f)

    def param(self, m: T7Object, name: str, shape: tuple[int, ...], init) -> None:
        self.params.append((m, name, shape, init))

    # --- layers as the Lua model definitions create them ----------------------------------------
    def sequential(self, *mods: T7Object) -> T7Object:
        return self.module("nn.Sequential", modules=list(mods))

    def conv(self, cin: int, cout: int, k: int, stride: int, pad: int, hw: int, groups: int = 1,
             first: bool = False) -> T7Object:
        m = self.module("cudnn.SpatialConvolution", grad_input=None if first else "tensor",
                        iSize=_long_storage([self.batch, cin, hw, hw]), kW=k, kH=k, dW=stride, dH=stride, padW=pad,
                        padH=pad, nInputPlane=cin, nOutputPlane=cout, groups=groups)
        fan = k * k * cout
        self.param(m, "weight", (cout, cin // groups, k, k),
                   lambda rng, s: rng.standard_normal(s, dtype=np.float32) * np.float32(math.sqrt(2.0 / fan)))
        return m

    def bn(self, n: int) -> T7Object:
        m = self.module("nn.SpatialBatchNormalization", 2, eps=1e-5, momentum=0.1, affine=True, save_mean=_empty(),
                        save_std=_empty(), running_mean=self.rng.uniform(-0.1, 0.1, n).astype(np.float32),
                        running_var=self.rng.uniform(0.5, 2.0, n).astype(np.float32))
        self.param(m, "weight", (n,), lambda rng, s: rng.uniform(0.5, 1.5, s).astype(np.float32))
        self.param(m, "bias", (n,), lambda rng, s: rng.uniform(-0.2, 0.2, s).astype(np.float32))
        return m

    def relu(self) -> T7Object:
        return self.module("cudnn.ReLU", val=0, threshold=0, inplace=True, mode="CUDNN_ACTIVATION_RELU", nElem=1)

    def maxpool(self, hw: int) -> T7Object:
        return self.module("nn.SpatialMaxPooling", kW=3, kH=3, dW=2, dH=2, padW=1, padH=1, ceil_mode=False,
                           iwidth=hw, iheight=hw, indices=_empty())

    def avgpool(self, k: int) -> T7Object:
        return self.module("cudnn.SpatialAveragePooling", kW=k, kH=k, dW=1, dH=1, padW=0, padH=0, ceil_mode=False,
                           count_include_pad=True, divide=True, mode="CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING",
                           iSize=_long_storage([0, 0, 0, 0]))

    def view(self, n: int) -> T7Object:
        return self.module("nn.View", size=_long_storage([n]), numElements=n, numInputDims=3)

    def linear(self, cin: int, cout: int) -> T7Object:
        m = self.module("nn.Linear", addBuffer=_empty())
        bound = 1.0 / math.sqrt(cin)
        self.param(m, "weight", (cout, cin), lambda rng, s: rng.uniform(-bound, bound, s).astype(np.float32))
        self.param(m, "bias", (cout,), lambda rng, s: rng.uniform(-bound, bound, s).astype(np.float32))
        return m

    def concat_table(self, *mods: T7Object) -> T7Object:
        return self.module("nn.ConcatTable", output=T7Table(), modules=list(mods))

    def cadd(self) -> T7Object:
        return self.module("nn.CAddTable", grad_input="table", inplace=True)

    def identity(self) -> T7Object:
        return self.module("nn.Identity")

    def join(self, c: int, hw: int) -> T7Object:
        return self.module("nn.JoinTable", grad_input="table", dimension=2, size=_long_storage([self.batch, c, hw, hw]))


def _build(arch: Arch, b: _Builder) -> T7Object:
    hw = 224 if arch.trunk == "imagenet" else 32
    state = {"channels": arch.stem_width, "hw": hw}
    model = []
    if arch.trunk == "imagenet":
        model += [b.conv(3, arch.stem_width, 7, 2, 3, hw, first=True), b.bn(arch.stem_width), b.relu(), b.maxpool(hw // 2)]
        state["hw"] = hw // 4
    else:
        model += [b.conv(3, arch.stem_width, 3, 1, 1, hw, first=True), b.bn(arch.stem_width), b.relu()]

    def shortcut(cin: int, cout: int, stride: int, hw_in: int) -> T7Object:
        use_conv = arch.shortcut == "C" or (arch.shortcut == "B" and cin != cout)
        if use_conv:
            return b.sequential(b.conv(cin, cout, 1, stride, 0, hw_in), b.bn(cout))
        if cin != cout:  # shortcut A: strided, zero-padded identity
            pool = b.module("nn.SpatialAveragePooling", kW=1, kH=1, dW=stride, dH=stride, padW=0, padH=0,
                            ceil_mode=False, count_include_pad=True, divide=True)
            hw_out = (hw_in - 1) // stride + 1
            concat = b.module("nn.Concat", dimension=2, outputSize=_long_storage([b.batch, cout, hw_out, hw_out]),
                              modules=[b.identity(), b.module("nn.MulConstant", constant_scalar=0, inplace=False)])
            return b.sequential(pool, concat)
        return b.identity()

    def block(planes: int, stride: int) -> T7Object:
        cin, hw_in = state["channels"], state["hw"]
        hw_out = (hw_in - 1) // stride + 1
        if arch.block == "basic":
            cout = planes
            branch = b.sequential(b.conv(cin, planes, 3, stride, 1, hw_in), b.bn(planes), b.relu(),
                                  b.conv(planes, planes, 3, 1, 1, hw_out), b.bn(planes))
        else:
            cout = planes * 4
            if arch.block == "bottleneck":
                d, c = planes, 1
            else:
                d, c = int(math.floor(planes * arch.base_width / 64)), arch.cardinality
            if arch.block == "resnext" and arch.form == "B":
                paths = [b.sequential(b.conv(cin, d, 1, 1, 0, hw_in), b.bn(d), b.relu(),
                                      b.conv(d, d, 3, stride, 1, hw_in), b.bn(d), b.relu()) for _ in range(c)]
                head = [b.concat_table(*paths), b.join(d * c, hw_out)]
            else:
                head = [b.conv(cin, d * c, 1, 1, 0, hw_in), b.bn(d * c), b.relu(),
                        b.conv(d * c, d * c, 3, stride, 1, hw_in, groups=c), b.bn(d * c), b.relu()]
            tail = [b.conv(d * c, cout, 1, 1, 0, hw_out), b.bn(cout)]
            branch = b.sequential(b.sequential(*head), *tail) if arch.nested else b.sequential(*head, *tail)
        sc = shortcut(cin, cout, stride, hw_in)
        state["channels"], state["hw"] = cout, hw_out
        return b.sequential(b.concat_table(branch, sc), b.cadd(), b.relu())

    for i, (n, planes) in enumerate(zip(arch.stages, arch.widths)):
        stride = 1 if i == 0 else 2
        model.append(b.sequential(*[block(planes, stride if j == 0 else 1) for j in range(n)]))
    pool = state["hw"]
    model += [b.avgpool(pool), b.view(state["channels"]), b.linear(state["channels"], arch.num_classes)]
    root = b.sequential(*model)
    root.fields["modules"][0].fields.pop("gradInput", None)  # models/*.lua: model:get(1).gradInput = nil
    return root


def synthesize(name: str | Arch, *, seed: int = 0) -> T7Object:
    """The module tree of ``name`` (see :data:`ARCHS`, or an :class:`Arch`) with random weights in one
    flattened storage."""
    if isinstance(name, Arch):
        arch = name
    elif name in ARCHS:
        arch = ARCHS[name]
    else:
        raise T7ConvertError(f"unknown architecture {name!r}; known: {', '.join(ARCHS)}")
    b = _Builder(rng=np.random.default_rng(seed + 1))
    root = _build(arch, b)
    total = sum(math.prod(shape) for _, _, shape, _ in b.params)
    flat = np.empty(total, np.float32)
    grads = np.zeros(total, np.float32)  # zero pages cost nothing until written
    rng = np.random.default_rng(seed)
    offset = 0
    for m, name_, shape, init in b.params:
        n = math.prod(shape)
        flat[offset:offset + n] = init(rng, shape).reshape(-1)
        m.fields[name_] = flat[offset:offset + n].reshape(shape)
        grad = "gradWeight" if name_ == "weight" else "gradBias"
        m.fields[grad] = grads[offset:offset + n].reshape(shape)
        offset += n
    return root


def synthesize_file(name: str | Arch, path: str, *, seed: int = 0, nested: bool | None = None) -> int:
    """Write a synthesized checkpoint; returns its parameter count. ``nested`` overrides the layout of
    a ResNeXt branch: the released files wrap its first six layers in an inner Sequential (True), the
    ResNeXt code as published builds it flat (False); None keeps the architecture's own."""
    import dataclasses

    from t7convert.torch7.parameters import parameter_count

    arch = ARCHS[name] if isinstance(name, str) else name
    if nested is not None:
        arch = dataclasses.replace(arch, nested=nested)
    root = synthesize(arch, seed=seed)
    write(path, root)
    return parameter_count(root)
