"""Walking a Torch7 module graph: dispatch by class, Lua paths, and what each module output.

Torch7 modules share tensors: an in-place ReLU overwrites the output of the module before it, a View's
output is the same storage as its input, an Identity returns its input. The engine keeps that
aliasing (in-place layers really write into NumPy arrays they received, views really are views), so
after a forward pass :attr:`Execution.final` holds what Torch7's ``module.output`` fields hold, which
is what a script dumping ``model.modules[i].output`` after a forward sees. It also keeps a copy of each
recorded module's output taken when the module produced it (:attr:`Execution.outputs`): what a forward
hook on the equivalent PyTorch module sees.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Collection

import numpy as np

from t7convert.interpreter.registry import ModelError, lookup
from t7convert.torch7.checkpoint import DATA_PARALLEL, unwrap
from t7convert.torch7.format import T7Object

#: Containers Torch7 saves around a model for multi-GPU training; the model is their first replica.
WRAPPERS = DATA_PARALLEL
MAX_CALLS = 1_000_000


def child_path(parent: str, index0: int) -> str:
    """The Lua path of child ``index0`` (0-based here, 1-based in the path, as in Lua)."""
    step = f"modules[{index0 + 1}]"
    return f"{parent}.{step}" if parent else step


def depth(path: str) -> int:
    """How many containers down a path is: ``modules[5].modules[2]`` is at depth 2."""
    return path.count("modules[")


def modules_run(m: T7Object) -> list:
    """The children Torch7 runs: ``for i = 1, #self.modules``, read here from the raw ``modules`` table.

    Lua's ``#`` is a border of the table: ``modules[1] .. modules[n]`` present and ``modules[n + 1]``
    absent. Keys 0 and below, and anything after a hole, are never run. (A table with holes has several
    borders; the run from 1 up to the first hole is what containers built with ``table.insert`` give.)
    Deliberately not :attr:`T7Object.children`, which the converters use, so that the reference
    execution does not share a misreading of the table with them.
    """
    fields = m.fields if isinstance(m.fields, dict) else {}
    table = fields.get("modules")
    if isinstance(table, list):  # the reader's form for a table whose keys are exactly 1..n
        return list(table)
    if not isinstance(table, dict):
        return []
    numbers = {k for k in table if type(k) is int}  # Lua numbers; Python's True == 1, Lua's true is not
    border = 0
    while border + 1 in numbers:
        border += 1
    return [table[i] for i in range(1, border + 1)]


def is_residual_block(m: T7Object) -> bool:
    """A Sequential holding ConcatTable then CAddTable: a ResNet/ResNeXt block (shortcut + branch)."""
    if m.class_name != "nn.Sequential":
        return False
    names = [c.class_name for c in modules_run(m) if isinstance(c, T7Object)]
    return any(a == "nn.ConcatTable" and b == "nn.CAddTable" for a, b in zip(names, names[1:]))


@dataclass
class Execution:
    """The result of running a Torch7 graph.

    ``output``: the model's output. ``order``: recorded module paths in the order their outputs were
    complete (a block's layers before the block). ``outputs[path]``: the module's output as produced.
    ``final[path]``: the same tensor after the whole forward pass, including later in-place writes.
    ``classes[path]``: the module's Torch7 class name. ``blocks``: the recorded residual blocks.
    """

    output: Any
    order: list[str] = field(default_factory=list)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    final: dict[str, np.ndarray] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)
    blocks: set[str] = field(default_factory=set)

    def label(self, path: str) -> str:
        """The class at ``path`` for a report, residual blocks said as such."""
        name = self.classes.get(path, "")
        return f"{name}, residual block" if path in self.blocks else name

    def produced_equivalent(self, path: str) -> str | None:
        """The recorded path whose *produced* output equals what Torch7 leaves in ``path``'s output.

        ``path`` itself unless a later in-place layer overwrote it (then, usually, that layer: a
        BatchNorm followed by an in-place ReLU ends up holding the ReLU's output). None when the tensor
        was overwritten by something not recorded. Lets a PyTorch model, observed with forward hooks,
        be compared with stages dumped from Torch7 after the forward pass.
        """
        if path not in self.final:
            return None
        final = self.final[path]
        if np.array_equal(self.outputs[path], final, equal_nan=True):
            return path
        later = self.order[self.order.index(path) + 1:]
        for q in reversed(later):
            produced = self.outputs.get(q)
            if (produced is not None and produced.size == final.size
                    and np.may_share_memory(self.final[q], final)
                    and np.array_equal(produced.reshape(final.shape), final, equal_nan=True)):
                return q
        return None


class Engine:
    """Runs modules by class, keeping Lua paths and recording the outputs asked for."""

    def __init__(self, *, record: bool, record_depth: int, paths: Collection[str],
                 on_leaf: Callable[[str], None] | None = None) -> None:
        self.record = record
        self.record_depth = record_depth
        self.paths = set(paths)
        self.execution = Execution(output=None)
        self.on_leaf = on_leaf
        self.calls = 0
        self._children: dict[int, tuple[T7Object, list]] = {}
        #: id(module) -> what its forward in this run left in its fields for another module to read
        #: (nn.SpatialMaxUnpooling reads its pooling's ``indices``, ``iheight``, ``iwidth``)
        self.module_state: dict[int, Any] = {}

    def children(self, m: T7Object) -> list:
        """:func:`modules_run` of ``m``, read once per container per run."""
        hit = self._children.get(id(m))
        if hit is None or hit[0] is not m:
            hit = self._children[id(m)] = (m, modules_run(m))
        return hit[1]

    def wants(self, path: str, m: T7Object) -> bool:
        if not self.record or not path:
            return False
        return depth(path) <= self.record_depth or path in self.paths or is_residual_block(m)

    def forward(self, m: Any, x: Any, path: str) -> Any:
        self.calls += 1
        if self.calls > MAX_CALLS:  # shared modules can make a small file's graph exponentially long
            raise ModelError(f"{path or 'the root'}: more than {MAX_CALLS:,} module calls in one forward")
        fn = lookup(m, path)
        try:
            y = fn(m, x, Call(self, m, path))
        except (ValueError, OverflowError) as e:
            # numpy's complaints about shapes and values: the model, its fields and the input do not fit.
            # An IndexError, TypeError or KeyError is a bug of the layer's (exit 3), not the input's.
            raise ModelError(f"{path or 'the root'} ({m.class_name}): {type(e).__name__}: {e}") from None
        if self.on_leaf is not None and not self.children(m):
            self.on_leaf(path)
        if self.wants(path, m) and isinstance(y, np.ndarray):
            ex = self.execution
            ex.order.append(path)
            ex.outputs[path] = y.copy()
            ex.final[path] = y
            ex.classes[path] = m.class_name
            if is_residual_block(m):
                ex.blocks.add(path)
        return y


@dataclass
class Call:
    """What a layer function gets besides its module and input: its path, and its children."""

    engine: Engine
    module: T7Object
    path: str

    @property
    def where(self) -> str:
        return self.path or "the root"

    @property
    def children(self) -> list:
        """The children Torch7 runs, in order (:func:`modules_run`)."""
        return self.engine.children(self.module)

    def child(self, index0: int, x: Any) -> Any:
        """Run child ``index0`` (0-based) of this container on ``x``."""
        return self.engine.forward(self.children[index0], x, child_path(self.path, index0))

    def fail(self, message: str) -> ModelError:
        """An error naming this module; ``raise call.fail(...)``."""
        return ModelError(f"{self.where} ({self.module.class_name}): {message}")


def run(model: Any, x: Any, *, record: bool = True, record_depth: int = 2,
        paths: Collection[str] = (), on_leaf: Callable[[str], None] | None = None) -> Execution:
    """Execute a parsed Torch7 model on ``x`` in evaluate mode, in float64 NumPy.

    Records the output of every module down to ``record_depth`` containers (top-level modules and the
    residual blocks inside them, by default), of every residual block wherever it is, and of the Lua
    paths in ``paths``. ``record=False`` records nothing (only :attr:`Execution.output`).
    A DataParallelTable around the model is unwrapped first; paths are relative to what is inside.
    ``on_leaf(path)`` is called after each non-container module runs (for progress bars).
    """
    engine = Engine(record=record, record_depth=record_depth, paths=paths, on_leaf=on_leaf)
    data = _own(x)  # ours to overwrite, as in-place layers will
    engine.execution.output = engine.forward(unwrap(model), data, "")
    return engine.execution


def _own(x: Any) -> Any:
    """A float64 copy of the input; a table (a list) copied element by element, integer tensors (the
    LongTensor of indices nn.Index or nn.OneHot take, a ByteTensor mask) keeping their type."""
    if isinstance(x, (list, tuple)):
        return [_own(v) for v in x]
    a = np.asarray(x)
    return np.array(a, dtype=a.dtype if a.dtype.kind in "iub" else np.float64, copy=True)
