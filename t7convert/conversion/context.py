"""Torch7 modules -> converted nodes, one converter per layer family (see :mod:`.registry`).

:func:`convert_graph` walks a Torch7 module tree and returns the :class:`~t7convert.conversion.tree.Node` tree with
the notes of what it fixed on the way. Every failure names the Torch7 class and its path in the graph.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from t7convert.common.errors import T7ConvertError
from t7convert.common.registry import discover
from t7convert.conversion import families
from t7convert.conversion.registry import converts, get_converter, supported_classes
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object

# Every module of ``families/`` is a layer family that registers itself: found, not listed, so that a
# new family is one new file.
discover(families)

__all__ = ["convert_graph", "ConversionContext", "converts", "supported_classes"]

# Fields that are training state or buffers, never weights: dropped and counted for the summary.
_TRAINING_STATE = ("gradWeight", "gradBias", "output", "gradInput", "save_mean", "save_std", "indices",
                   "finput", "fgradInput", "_input", "_gradOutput", "addBuffer", "iSize", "buffer", "buffer2",
                   "centered", "normalized", "noise", "ones", "columns")


#: Classes whose Lua writes the result into the input tensor when ``inplace`` is set (Threshold and its
#: ReLU, HardTanh and its Clamp/ReLU6, LeakyReLU, ELU, RReLU, Add/MulConstant, Dropout's ``output:set(input)``,
#: cudnn's pointwise ``output:set(input)``), and those writing into the first tensor of their input table.
_IN_PLACE_INPUT = frozenset({
    "nn.ReLU", "nn.Threshold", "nn.HardTanh", "nn.Clamp", "nn.ReLU6", "nn.LeakyReLU", "nn.ELU", "nn.RReLU",
    "nn.AddConstant", "nn.MulConstant", "nn.Dropout", "cudnn.ReLU", "cudnn.Tanh", "cudnn.Sigmoid",
    "nn.SpatialConstDiagonal"})
_IN_PLACE_FIRST = frozenset({"nn.CAddTable"})
#: Classes whose output is their input tensor itself (``self.output = input``, ``output:set(input)``;
#: Contiguous when the input already is)
_ALIASES = frozenset({"nn.Identity", "nn.GradientReversal", "nn.ZeroGrad", "nn.Contiguous"})


def _mutates(module: T7Object) -> str:
    """What ``module`` overwrites when it runs: ``inplace`` as Lua reads it (anything but nil and false)."""
    if module.class_name in _ALIASES:  # its output is its input tensor: a write to one is to both
        return "alias"
    inplace = module.get("inplace")
    if inplace is None or inplace is False:
        return ""
    if module.class_name in _IN_PLACE_INPUT:
        return "input"
    return "first" if module.class_name in _IN_PLACE_FIRST else ""


#: Containers inside containers that a conversion follows; a module deeper than this is an input error.
#: Far beyond any real network (a ResNet is 3 deep), and well within Python's recursion limit.
MAX_DEPTH = 150


@dataclass
class ConversionContext:
    """State of one conversion: the current Torch7 path, notes for the summary, dropped fields."""

    notes: list[str] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    _path: list[str] = field(default_factory=list)
    converted: int = 0
    limit: int = 200_000  # modules; a few shared modules can make a tiny file's tree exponential
    depth: int = 0  # containers around the module being converted
    #: id(module) -> the paths it was converted at so far (a module shared by reference, such as the
    #: pooling an nn.SpatialMaxUnpooling reads, is found by identity: :meth:`paths_of`)
    module_paths: dict = field(default_factory=dict)
    #: id(module) -> (module, the tensors its first conversion gave): see :meth:`_share`
    first_tensors: dict = field(default_factory=dict)

    @property
    def path(self) -> str:
        return ".".join(self._path) or "<root>"

    def convert(self, module: T7Object) -> Node:
        if not isinstance(module, T7Object):
            raise T7ConvertError(f"expected a Torch7 module at {self.path}, found {type(module).__name__}")
        self.converted += 1
        if self.converted > self.limit:
            raise T7ConvertError(f"more than {self.limit:,} modules to convert: modules shared over and over "
                                 "make the graph's tree too large")
        if self.depth > MAX_DEPTH:
            raise T7ConvertError(f"modules nested too deeply to convert (more than {MAX_DEPTH} levels of "
                                 f"containers, at {self.path})")
        node = get_converter(module.class_name, self.path)(module, self)
        node.source = self.path if self._path else ""
        if not node.children:
            node.mutates = _mutates(module)
        self._share(module, node)
        self.module_paths.setdefault(id(module), []).append(node.source)
        for name in _TRAINING_STATE:
            if module.get(name) is not None:
                self.dropped[name] += 1
        return node

    def _share(self, module: T7Object, node: Node) -> None:
        """A module Torch7 shares by reference (one object at many paths) gives the same arrays every time
        it is converted, so its weights are one tensor in the output, not one per place. A converter
        computes new arrays (a legacy BN's running_var from running_std) at each conversion: those equal
        to the first conversion's are replaced by them."""
        first = self.first_tensors.setdefault(id(module), (module, node.tensors))[1]
        if first is node.tensors:
            return
        for key, array in node.tensors.items():
            earlier = first.get(key)
            if earlier is not None and earlier is not array and _same_values(earlier, array):
                node.tensors[key] = earlier

    def child(self, module: T7Object, index: int) -> Node:
        self._path.append(f"modules[{index}]")
        self.depth += 1
        try:
            return self.convert(module)
        finally:
            self.depth -= 1
            self._path.pop()

    def paths_of(self, module: T7Object) -> list[str]:
        """The paths ``module`` (this very object) was converted at before now, in order."""
        return list(self.module_paths.get(id(module), ()))

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)

    def fail(self, module: T7Object, message: str) -> T7ConvertError:
        return T7ConvertError(f"{module.class_name} at {self.path}: {message}")


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def convert_graph(model: T7Object) -> tuple[Node, ConversionContext]:
    ctx = ConversionContext()
    try:
        return ctx.convert(model), ctx
    except RecursionError:  # MAX_DEPTH is meant to come first; this only keeps the message one line
        raise T7ConvertError(f"modules nested too deeply to convert (at {ctx.path})") from None
