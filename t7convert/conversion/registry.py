"""Converter registry: one function per Torch7 layer family, filed under each class name it handles.

Stack the decorator for variants (``nn.X``, ``cudnn.X``, ``fbnn.X``), as onnx2torch stacks one per op
version. Looking up a class that nobody registered raises :class:`UnsupportedModuleError` naming the
class, where it sits in the graph, and what is supported.
"""
from __future__ import annotations

from typing import Callable, Protocol

from t7convert.common.errors import UnsupportedModuleError
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


class Context(Protocol):
    """What a converter may ask of the conversion in progress (see :class:`ConversionContext`)."""

    def child(self, module: T7Object, index: int) -> Node: ...
    def note(self, message: str) -> None: ...
    def fail(self, module: T7Object, message: str) -> Exception: ...


Converter = Callable[[T7Object, "Context"], Node]
_CONVERTERS: dict[str, Converter] = {}


def converts(*class_names: str) -> Callable[[Converter], Converter]:
    """Register ``fn`` as the converter of each Torch7 class in ``class_names``."""
    def register(fn: Converter) -> Converter:
        for name in class_names:
            if name in _CONVERTERS:
                raise ValueError(f"{name} already has a converter: {_CONVERTERS[name].__name__}")
            _CONVERTERS[name] = fn
        return fn
    return register


def supported_classes() -> list[str]:
    return sorted(_CONVERTERS)


def get_converter(class_name: str, path: str) -> Converter:
    try:
        return _CONVERTERS[class_name]
    except KeyError:
        raise UnsupportedModuleError(
            f"no converter for Torch7 class {class_name} at {path or '<root>'}; supported: "
            + ", ".join(supported_classes())) from None


# --- what input a converted op expects when it comes first ---------------------------------------
InputHint = Callable[[dict], "tuple[int, ...] | int | None"]
_INPUT_HINTS: dict[str, InputHint] = {}


def expects_input(*ops: str) -> Callable[[InputHint], InputHint]:
    """Register how a converted op, met first by the model's input, tells the input it expects: a
    whole per-sample shape (a tuple: a Linear's feature vector), the number of planes of an image
    (an int: a convolution's input planes), or None when it cannot tell."""
    def register(fn: InputHint) -> InputHint:
        for op in ops:
            _INPUT_HINTS[op] = fn
        return fn
    return register


def input_hint(op: str, attrs: dict) -> "tuple[int, ...] | int | None":
    fn = _INPUT_HINTS.get(op)
    return None if fn is None else fn(attrs)
