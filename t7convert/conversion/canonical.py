"""Recognising fb.resnet.torch / ResNeXt graphs in a converted node tree and mapping them to torchvision.

The graph shapes recognised (ResNeXt's models/resnext.lua and fb.resnet.torch's models/resnet.lua):

* trunk: conv 7x7/2, BN, ReLU, max-pool 3x3/2, four stages, average pool 7x7, View, Linear; or the
  CIFAR trunk: conv 3x3/1, BN, ReLU, three stages, average pool 8x8, View, Linear;
* a block: Sequential(ConcatTable(branch, shortcut), CAddTable, ReLU);
* the branch, with nested Sequentials flattened (the released ResNeXt files nest its first six layers):
  conv 1x1, BN, ReLU, conv 3x3 (grouped: form C), BN, ReLU, conv 1x1, BN (bottleneck), or conv 3x3,
  BN, ReLU, conv 3x3, BN (basic); form B, C parallel branches of conv 1x1, BN, ReLU, conv 3x3, BN, ReLU
  joined along the channels, is folded into the equivalent grouped form (the paper's equivalence);
* the shortcut: Identity, or Sequential(conv 1x1 with the block's stride, BN) (types B and C).

Anything else (pre-activation, shortcut A, BN after the addition, extra layers) is not canonical and
stays a generic module tree. Exact rewrites applied on the way, each reported: a convolution bias folded
into the next BN's running mean, a BN eps other than torchvision's 1e-5 folded into running_var, BN
without affine parameters given weight 1 and bias 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from t7convert.conversion.resnet_spec import ResNetSpec, choose_width_per_group, width_per_group_candidates
from t7convert.conversion.tree import Node

TORCHVISION_EPS = 1e-5


class NotCanonical(Exception):
    """Why a graph is not a canonical ResNet/ResNeXt (reported in the conversion summary). ``near``: the
    graph starts like fb.resnet.torch's, so the reason is news to its user; a model that is no ResNet at
    all (an MLP, a char-rnn) is not told why it is not one."""

    def __init__(self, why: str, *, near: bool = True) -> None:
        super().__init__(why)
        self.near = near


@dataclass
class Canonical:
    spec: ResNetSpec
    state: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)
    # Torch7 stages whose own output the rewrites change (a stem convolution whose bias moved into the
    # BN after it); parity compares from the next stage on, where the outputs are equal again.
    rewritten_stages: list[str] = field(default_factory=list)


def _expect(cond: bool, why: str) -> None:
    if not cond:
        raise NotCanonical(why)


def _is_conv(n: Node, k: int, stride: int | None = None, groups: int | None = None) -> bool:
    a = n.attrs
    return (n.op == "Conv2d" and a["kernel_size"] == [k, k] and a["padding"] == [k // 2, k // 2]
            and (stride is None or a["stride"] == [stride, stride]) and a["stride"][0] == a["stride"][1]
            and (groups is None or a["groups"] == groups))


def _flatten(nodes: list[Node], note: Callable[[str], None] | None = None) -> list[Node]:
    """Nested Sequentials spliced into one list, form-B split-and-join folded into grouped layers
    (``note`` is told, for the summary)."""
    out: list[Node] = []
    i = 0
    while i < len(nodes):
        n = nodes[i]
        if n.op == "Sequential":
            out += _flatten(n.children, note)
        elif n.op == "ConcatTable" and i + 1 < len(nodes) and nodes[i + 1].op == "JoinTable":
            _expect(_joins_channels(nodes[i + 1]), "a JoinTable that does not join channels")
            out += _fold_form_b(n)
            if note is not None:
                note(f"form B: the {len(n.children)} parallel branches of each block folded into grouped "
                     "convolutions (exact: the same sums in the same order)")
            i += 1
        else:
            out.append(n)
        i += 1
    return out


def _joins_channels(n: Node) -> bool:
    a = n.attrs
    # the channels of a batch: dimension 2 counted absolutely, or 1 shifted by nInputDims = 3
    return (a["dim"] == 2 and a.get("n_input_dims") is None) or (a["dim"] == 1 and a.get("n_input_dims") == 3)


def _fold_form_b(table: Node) -> list[Node]:
    """C branches [conv1x1, BN, ReLU, conv3x3, BN, ReLU] joined on channels == one grouped branch."""
    branches = [_flatten([b]) for b in table.children]
    _expect(len(branches) >= 1, "an empty ConcatTable")
    pattern = ["Conv2d", "BatchNorm", "ReLU", "Conv2d", "BatchNorm", "ReLU"]
    for b in branches:
        _expect([n.op for n in b] == pattern, "form-B branches that are not conv, BN, ReLU, conv, BN, ReLU")
        _expect(_is_conv(b[0], 1, 1, 1) and _is_conv(b[3], 3, None, 1), "form-B branch convolutions of another shape")
        _expect(b[3].attrs["stride"] == branches[0][3].attrs["stride"], "form-B branches with different strides")
        _expect(b[0].attrs["in_channels"] == branches[0][0].attrs["in_channels"], "form-B branches of different inputs")
        _expect(b[0].attrs["out_channels"] == branches[0][0].attrs["out_channels"], "form-B branches of different widths")
    c = len(branches)
    d = branches[0][0].attrs["out_channels"]
    n_in = branches[0][0].attrs["in_channels"]

    def cat_conv(idx: int, cin: int, groups: int) -> Node:
        convs = [b[idx] for b in branches]
        t = {"weight": np.concatenate([cv.tensors["weight"] for cv in convs])}
        if any("bias" in cv.tensors for cv in convs):
            t["bias"] = np.concatenate([cv.tensors.get("bias", np.zeros(d, np.float32)) for cv in convs])
        a = dict(convs[0].attrs, in_channels=cin, out_channels=d * c, groups=groups, bias="bias" in t)
        return Node("Conv2d", a, t, source=table.source)

    def cat_bn(idx: int) -> Node:
        bns = [b[idx] for b in branches]
        eps = bns[0].attrs["eps"]
        t: dict[str, np.ndarray] = {}
        t["running_mean"] = np.concatenate([bn.tensors["running_mean"] for bn in bns])
        # a branch with another eps keeps its exact normalisation through its running_var
        t["running_var"] = np.concatenate([bn.tensors["running_var"] + np.float32(bn.attrs["eps"] - eps) for bn in bns])
        affine = any(bn.attrs["affine"] for bn in bns)
        if affine:
            t["weight"] = np.concatenate([bn.tensors.get("weight", np.ones(d, np.float32)) for bn in bns])
            t["bias"] = np.concatenate([bn.tensors.get("bias", np.zeros(d, np.float32)) for bn in bns])
        return Node("BatchNorm", dict(bns[0].attrs, num_features=d * c, affine=affine), t, source=table.source)

    relu = branches[0][2]
    return [cat_conv(0, n_in, 1), cat_bn(1), relu, cat_conv(3, d * c, c), cat_bn(4), branches[0][5]]


class _Mapper:
    """Collects torchvision-named tensors while checking each layer, applying the exact rewrites."""

    def __init__(self) -> None:
        self.state: dict[str, np.ndarray] = {}
        self.notes: list[str] = []
        self.rewritten: list[str] = []

    def note(self, msg: str) -> None:
        if msg not in self.notes:
            self.notes.append(msg)

    def conv(self, name: str, conv: Node, bn: Node, bn_name: str) -> None:
        """A bias-free torchvision conv followed by its BN; a Torch7 conv bias is folded into the BN."""
        _expect(conv.op == "Conv2d" and bn.op == "BatchNorm", f"{name}: expected a convolution and a BN")
        _expect(bn.attrs["num_features"] == conv.attrs["out_channels"], f"{bn_name}: BN width differs from {name}")
        _expect(bn.attrs["spatial"], f"{bn_name}: a BatchNormalization where a SpatialBatchNormalization belongs")
        self.state[f"{name}.weight"] = conv.tensors["weight"]
        bias = conv.tensors.get("bias")
        mean = bn.tensors["running_mean"]
        if bias is not None:
            if np.any(bias != 0):
                mean = (mean - bias).astype(np.float32)
                self.note("convolution biases folded into the following BN's running_mean (exact)")
                if conv.source:
                    self.rewritten.append(conv.source)
            else:
                self.note("all-zero convolution biases dropped")
        self.bn(bn_name, bn, mean)

    def bn(self, name: str, bn: Node, mean: np.ndarray | None = None) -> None:
        n = bn.attrs["num_features"]
        var = bn.tensors["running_var"]
        eps = bn.attrs["eps"]
        if eps != TORCHVISION_EPS:
            var = (var.astype(np.float64) + (eps - TORCHVISION_EPS)).astype(np.float32)
            _expect(bool(np.all(var >= 0)), f"{name}: BN eps {eps} cannot be expressed with torchvision's 1e-5")
            self.note(f"BN eps {eps} folded into running_var for torchvision's eps 1e-5")
        if bn.attrs["affine"]:
            self.state[f"{name}.weight"] = bn.tensors["weight"]
            self.state[f"{name}.bias"] = bn.tensors["bias"]
        else:
            self.state[f"{name}.weight"] = np.ones(n, np.float32)
            self.state[f"{name}.bias"] = np.zeros(n, np.float32)
            self.note("BN without affine parameters given weight 1 and bias 0")
        self.state[f"{name}.running_mean"] = bn.tensors["running_mean"] if mean is None else mean
        self.state[f"{name}.running_var"] = var


def recognize(root: Node) -> Canonical:
    """Map a converted fb.resnet.torch/ResNeXt graph to torchvision's layout; NotCanonical says why not."""
    if root.op != "Sequential":
        raise NotCanonical("the model is not an nn.Sequential", near=False)
    top = root.children
    ops = [n.op for n in top]
    if ops[:4] == ["Conv2d", "BatchNorm", "ReLU", "Pool2d"]:
        stem, n_stages = "imagenet", 4
        stem_conv, pool = top[0], top[3]
        _expect(_is_conv(stem_conv, 7, 2, 1), "the stem is not a 7x7/2 convolution")
        p = pool.attrs
        _expect(p["kind"] == "max" and p["kernel"] == [3, 3] and p["stride"] == [2, 2] and p["padding"] == [1, 1]
                and not p["ceil_mode"], "the stem pooling is not a 3x3/2 max-pool with padding 1")
        rest = top[4:]
        final_pool = 7
    elif ops[:3] == ["Conv2d", "BatchNorm", "ReLU"] and len(top) == 3 + 3 + 3:
        stem, n_stages = "cifar", 3
        stem_conv = top[0]
        _expect(_is_conv(stem_conv, 3, 1, 1), "the CIFAR stem is not a 3x3/1 convolution")
        rest = top[3:]
        final_pool = 8
    else:
        raise NotCanonical("the trunk does not start like fb.resnet.torch's (conv, BN, ReLU[, max-pool])", near=False)
    _expect(len(rest) == n_stages + 3, f"expected {n_stages} stages, average pooling, View and Linear")
    _expect(stem_conv.attrs["in_channels"] == 3, "the stem does not take 3 channels")
    stages, (avg, view, fc) = rest[:n_stages], rest[n_stages:]
    a = avg.attrs
    _expect(avg.op == "Pool2d" and a["kind"] == "avg" and a["kernel"] == [final_pool] * 2 and a["stride"] == [1, 1]
            and a["padding"] == [0, 0] and a.get("divide", True), f"the last pooling is not a {final_pool}x{final_pool} average")
    _expect(view.op == "View" and fc.op == "Linear", "the head is not View + Linear")

    m = _Mapper()
    m.conv("conv1", stem_conv, top[1], "bn1")
    inplanes = stem_conv.attrs["out_channels"]
    block_kind = None
    layers, widths, groups_seen, wpg_seen = [], [], set(), set()
    projected_where, needed_where = [], []
    for s, stage in enumerate(stages, 1):
        _expect(stage.op == "Sequential" and stage.children, f"stage {s} is not a Sequential of blocks")
        layers.append(len(stage.children))
        for b, block in enumerate(stage.children):
            name = f"layer{s}.{b}"
            stride = 2 if (b == 0 and s > 1) else 1
            kind, planes, out, groups, width, projected = _block(m, name, block, inplanes, stride)
            _expect(block_kind in (None, kind), "basic and bottleneck blocks mixed")
            block_kind = kind
            if b == 0:
                widths.append(planes)
            _expect(planes == widths[-1], f"{name}: width differs from its stage")
            groups_seen.add(groups)
            if kind == "bottleneck":
                _expect(bool(width_per_group_candidates(planes, groups, width)),
                        f"{name}: a width of {width} is not expressible as torchvision's width_per_group")
                wpg_seen.add((planes, groups, width))
            needed = stride != 1 or inplanes != out
            _expect(projected or not needed, f"{name}: the shape changes but the shortcut is the identity")
            projected_where.append(projected)
            needed_where.append(needed)
            inplanes = out
    _expect(len(groups_seen) == 1, "stages with different cardinality")
    groups = groups_seen.pop()
    wpg = 64
    if block_kind == "bottleneck":
        chosen = choose_width_per_group(wpg_seen)
        _expect(chosen is not None, "stages whose widths no single width_per_group produces")
        wpg = chosen
    if all(projected_where) and projected_where != needed_where:
        shortcut = "C"  # a projection in every block
    else:
        _expect(projected_where == needed_where, "projection shortcuts in some blocks only")
        shortcut = "B"  # a projection exactly where the shape changes
    _expect(fc.attrs["in_features"] == inplanes, "the Linear layer does not take the last stage's width")
    # exactly fb.resnet.torch's View(nFeatures):setNumInputDims(3), which the canonical module reproduces
    _expect(view.attrs["sizes"] == [inplanes] and view.attrs.get("num_input_dims") == 3,
            "the View is not View(features):setNumInputDims(3)")
    m.state["fc.weight"] = fc.tensors["weight"]
    _expect("bias" in fc.tensors, "the Linear layer has no bias (torchvision's fc has one)")
    m.state["fc.bias"] = fc.tensors["bias"]
    spec = ResNetSpec(block=block_kind or "basic", layers=layers, widths=widths, groups=groups, width_per_group=wpg,
                      num_classes=fc.attrs["out_features"], stem=stem, stem_width=stem_conv.attrs["out_channels"],
                      shortcut=shortcut)
    return Canonical(spec, m.state, m.notes, m.rewritten)


def _block(m: _Mapper, name: str, block: Node, inplanes: int, stride: int):
    """Check one residual block; return (kind, planes, out channels, groups, width, has projection)."""
    kids = block.children
    _expect(block.op == "Sequential" and [k.op for k in kids] == ["ConcatTable", "CAddTable", "ReLU"],
            f"{name}: not Sequential(ConcatTable(branch, shortcut), CAddTable, ReLU)")
    _expect(len(kids[0].children) == 2, f"{name}: the ConcatTable does not hold a branch and a shortcut")
    branch, shortcut = kids[0].children
    layers = _flatten([branch], m.note)
    ops = [n.op for n in layers]
    if ops == ["Conv2d", "BatchNorm", "ReLU", "Conv2d", "BatchNorm", "ReLU", "Conv2d", "BatchNorm"]:
        c1, b1, _, c2, b2, _, c3, b3 = layers
        _expect(_is_conv(c1, 1, 1, 1) and _is_conv(c3, 1, 1, 1), f"{name}: bottleneck 1x1 convolutions of another shape")
        _expect(_is_conv(c2, 3, stride), f"{name}: the 3x3 convolution does not carry the stride {stride}")
        _expect(c1.attrs["in_channels"] == inplanes, f"{name}: takes {c1.attrs['in_channels']} channels, not {inplanes}")
        width, groups, out = c2.attrs["out_channels"], c2.attrs["groups"], c3.attrs["out_channels"]
        _expect(c1.attrs["out_channels"] == width == c2.attrs["in_channels"] == c3.attrs["in_channels"],
                f"{name}: inconsistent bottleneck widths")
        _expect(out % 4 == 0, f"{name}: output width {out} is not 4 x planes")
        for conv, bn, i in ((c1, b1, 1), (c2, b2, 2), (c3, b3, 3)):
            m.conv(f"{name}.conv{i}", conv, bn, f"{name}.bn{i}")
        kind, planes = "bottleneck", out // 4
    elif ops == ["Conv2d", "BatchNorm", "ReLU", "Conv2d", "BatchNorm"]:
        c1, b1, _, c2, b2 = layers
        _expect(_is_conv(c1, 3, stride, 1) and _is_conv(c2, 3, 1, 1), f"{name}: basic-block convolutions of another shape")
        _expect(c1.attrs["in_channels"] == inplanes, f"{name}: takes {c1.attrs['in_channels']} channels, not {inplanes}")
        out = c2.attrs["out_channels"]
        _expect(c1.attrs["out_channels"] == out == c2.attrs["in_channels"], f"{name}: inconsistent basic-block widths")
        m.conv(f"{name}.conv1", c1, b1, f"{name}.bn1")
        m.conv(f"{name}.conv2", c2, b2, f"{name}.bn2")
        kind, planes, groups, width = "basic", out, 1, out
    else:
        raise NotCanonical(f"{name}: the residual branch is {ops}, not a basic or bottleneck branch")
    if shortcut.op == "Identity":
        projected = False
    else:
        sc = _flatten([shortcut])
        _expect([n.op for n in sc] == ["Conv2d", "BatchNorm"], f"{name}: the shortcut is neither identity nor conv + BN")
        conv = sc[0]
        _expect(conv.attrs["kernel_size"] == [1, 1] and conv.attrs["padding"] == [0, 0] and conv.attrs["groups"] == 1
                and conv.attrs["stride"] == [stride, stride], f"{name}: the projection is not a 1x1 conv with stride {stride}")
        _expect(conv.attrs["in_channels"] == inplanes and conv.attrs["out_channels"] == out,
                f"{name}: the projection maps {conv.attrs['in_channels']} to {conv.attrs['out_channels']} channels")
        m.conv(f"{name}.downsample.0", conv, sc[1], f"{name}.downsample.1")
        projected = True
    return kind, planes, out, groups, width, projected
