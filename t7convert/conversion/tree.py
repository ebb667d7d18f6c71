"""The converted graph: a tree of plain-data nodes between Torch7 modules and torch.nn modules.

Converters turn each Torch7 module into a :class:`Node` (an op name, its attributes, its tensors and its
children). The node tree is the single description of a converted model: the canonical ResNet mapping
pattern-matches it, :mod:`t7convert.pytorch.modules` builds ``torch.nn`` modules from it, and its attributes (no
tensors) are what a converted generic file stores as its architecture, as plain JSON-able data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from t7convert.conversion.records import attrs_of


@dataclass
class Node:
    """One converted module.

    ``tensors`` are keyed by the name the built torch module gives them (``weight``, ``running_var``),
    so a node's state_dict entries are ``prefix + name``. ``source`` is the Torch7 path
    (``modules[5].modules[1]``), kept for messages and for parity.
    """

    op: str
    attrs: dict[str, Any] = field(default_factory=dict)  # given as the op's record (converters) or a dict
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    children: list["Node"] = field(default_factory=list)
    source: str = ""
    #: what the Torch7 module overwrites in place when it runs (``"input"``: its input tensor, as
    #: ``ReLU(true)``; ``"first"``: the first tensor of its input table, as ``CAddTable(true)``; ``"alias"``:
    #: nothing, but its output is its input tensor, as ``nn.Identity``'s); the DAG lowering makes later
    #: readers of an overwritten value read the result. Not stored: the DAG holds its effect.
    mutates: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.attrs, dict):  # a converter's typed record: stored as plain data
            self.attrs = attrs_of(self.attrs)

    def walk(self, prefix: str = "") -> Iterator[tuple[str, "Node"]]:
        """(state_dict prefix, node) for this node and its descendants, as nn.Sequential names them."""
        yield prefix, self
        for i, child in enumerate(self.children):
            yield from child.walk(f"{prefix}{i}.")

    def spec(self) -> dict[str, Any]:
        """The architecture as plain data (no tensors): what a converted file stores to rebuild it."""
        out: dict[str, Any] = {"op": self.op}
        if self.attrs:
            out["attrs"] = dict(self.attrs)
        if self.children:
            out["children"] = [c.spec() for c in self.children]
        if self.source:
            out["source"] = self.source
        return out

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Node":
        return cls(op=spec["op"], attrs=dict(spec.get("attrs", {})),
                   children=[cls.from_spec(c) for c in spec.get("children", [])], source=spec.get("source", ""))

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every tensor of the tree under its state_dict key."""
        return {prefix + name: t for prefix, node in self.walk() for name, t in node.tensors.items()}

    def parameter_count(self) -> int:
        """Weights and biases, each array once (a module Torch7 shares between places counts once, as
        getParameters counts it)."""
        arrays = {id(t): t for _, n in self.walk() for k, t in n.tensors.items() if k in ("weight", "bias")}
        return sum(int(np.prod(t.shape)) for t in arrays.values())
