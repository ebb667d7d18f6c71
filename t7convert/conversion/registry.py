"""Converter registry: one function per Torch7 layer family, filed under each class name it handles.

Stack the decorator for variants (``nn.X``, ``cudnn.X``, ``fbnn.X``), as onnx2torch stacks one per op
version. Looking up a class that nobody registered raises :class:`UnsupportedModuleError` naming the
class, where it sits in the graph, and what is supported.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

from t7convert.common.errors import UnsupportedModuleError
from t7convert.common.registry import Registry, broken_plugins
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


class Context(Protocol):
    """What a converter may ask of the conversion in progress (see :class:`ConversionContext`)."""

    def child(self, module: T7Object, index: int) -> Node: ...
    def note(self, message: str) -> None: ...
    def fail(self, module: T7Object, message: str) -> Exception: ...


Converter = Callable[[T7Object, "Context"], Node]
CONVERTERS: Registry[Converter] = Registry("converter", plugins="t7convert.converters")

#: ``@converts("nn.X", "cudnn.X")`` files a converter under each Torch7 class it handles.
converts = CONVERTERS.register


def supported_classes() -> list[str]:
    return CONVERTERS.names()


def get_converter(class_name: str, path: str) -> Converter:
    fn = CONVERTERS.get(class_name)
    if fn is None:
        raise UnsupportedModuleError(
            f"no converter for Torch7 class {class_name[:80]} at {path or '<root>'} (t7convert converts "
            f"{len(CONVERTERS.names())} classes, listed in its README); a class of your own can be added by a plugin "
            "package: a converter, a builder and a reference twin under the entry points t7convert.converters, "
            "t7convert.builders and t7convert.reference (README: \"Your own layers\")"
            + broken_plugins(CONVERTERS.plugins))
    return fn


# --- what input a converted op expects when it comes first ---------------------------------------
InputHint = Callable[[dict], "tuple[int, ...] | int | None"]
INPUT_HINTS: Registry[InputHint] = Registry("input hint")

#: ``@expects_input(op)`` files how a converted op, met first by the model's input, tells the input it
#: expects: a whole per-sample shape (a tuple: a Linear's feature vector), the number of planes of an
#: image (an int: a convolution's input planes), or None when it cannot tell.
expects_input = INPUT_HINTS.register


def input_hint(op: str, attrs: dict) -> "tuple[int, ...] | int | None":
    fn = INPUT_HINTS.get(op)
    return None if fn is None else fn(attrs)


Shrink = Callable[[dict], "tuple[int, int]"]
SHRINKS: Registry[Shrink] = Registry("downsampling")

#: ``@downsamples(op)`` files how much an op shrinks height and width, ``fn(attrs) -> (sh, sw)`` (its
#: strides); ops without one keep the size. Used to plan an input size (:mod:`.input_plan`).
downsamples = SHRINKS.register


def shrink(op: str, attrs: dict) -> "tuple[int, int]":
    fn = SHRINKS.get(op)
    return (1, 1) if fn is None else tuple(fn(attrs))  # type: ignore[return-value]


Extent = Callable[[dict], "tuple[int, int] | None"]
EXTENTS: Registry[Extent] = Registry("fixed extent")

#: ``@fixes_extent(op)`` files an op that expects a fixed (H, W) at its input, ``fn(attrs) -> (h, w)``
#: or None (a trunk's final average pooling: its kernel).
fixes_extent = EXTENTS.register


def extent_fixed(op: str, attrs: dict) -> "tuple[int, int] | None":
    fn = EXTENTS.get(op)
    return None if fn is None else fn(attrs)


#: A hint may also be the spec of a Lua table input (ops that take tables): a list of specs, one per
#: element, each a sample shape, a nested list, or ``{shape, dtype, low, high, batch}`` for an integer
#: tensor (indices, masks; ``batch`` false: no batch dimension in front).
ContainerHint = Callable[[dict, list, Callable[[Node], Any]], Any]
CONTAINER_HINTS: Registry[ContainerHint] = Registry("container input hint")

#: ``@expects_input_of_children(op)`` files how a container op tells its input from its children:
#: ``fn(attrs, children, hint)``, ``hint(child)`` giving a child's own (:func:`node_input_hint`).
expects_input_of_children = CONTAINER_HINTS.register


def node_input_hint(node: Node) -> Any:
    """What input the model rooted at ``node`` expects (see :func:`expects_input`), None when untold."""
    fn = CONTAINER_HINTS.get(node.op)
    if fn is not None:
        return fn(node.attrs, node.children, node_input_hint)
    return input_hint(node.op, node.attrs)


# --- how `t7convert inspect` prints a module, as Torch7's __tostring__ does ---------------------------
Describer = Callable[[T7Object], str]
DESCRIBERS: Registry[Describer] = Registry("description")

#: ``@describes("nn.X")`` files ``fn(module) -> str``: the one-line description ``inspect`` prints,
#: with the main constructor arguments (``nn.SpatialConvolution(3 -> 64, 7x7, 2,2, 3,3)``). Written
#: in the family file beside the converter; it must not raise on odd field values (it is shown for
#: files that do not convert), so a failure falls back to the class name.
describes = DESCRIBERS.register


def description(m: T7Object) -> str:
    fn = DESCRIBERS.get(m.class_name)
    if fn is None:
        return m.class_name
    try:
        return fn(m)
    except Exception:  # noqa: BLE001 - odd field values: the tree must still print
        return m.class_name
