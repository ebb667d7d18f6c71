"""The table of layer cases: one or more small Torch7 models per registered class, with an input.

Each module of this package is one layer family's cases (named as its family file) and holds a
``CASES`` list of :class:`LayerCase`; :func:`all_cases` gathers them, so a new family adds one file
here too. ``tests/test_layer_cases.py`` runs every case through the user's journey (convert with
verification, save, load with ``weights_only``, run on both sides) and fails when a class the
converters or the reference execution register has no case.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable

from t7convert.torch7.format import T7Object


@dataclass(frozen=True)
class LayerCase:
    """One Torch7 model built in memory, and the input to run it on.

    ``input`` is a whole input shape, batch first (the converted file is verified on it), or a list
    of shapes for a module that takes a Lua table of tensors. ``classes`` names every class the case
    covers beyond the root's (a container's children); ``tol`` is the relative tolerance of the
    float32 conversion against the float64 reference.
    """

    id: str
    build: Callable[[], T7Object]
    input: tuple[int, ...] | list | dict  # a shape; a (nested) table of specs; {shape, dtype, low, high}
    classes: tuple[str, ...] = field(default=())
    tol: float = 1e-5
    positive: bool = False   # inputs drawn in (0.1, 2) for layers defined there (Log, Sqrt)
    indices: int = 0         # the (first) input is token indices in 1..indices (OneHot, LookupTable)


def all_cases() -> list[LayerCase]:
    cases: list[LayerCase] = []
    for info in pkgutil.iter_modules(__path__):
        cases += importlib.import_module(f"{__name__}.{info.name}").CASES
    return cases


def covered_classes(case: LayerCase) -> set[str]:
    """Every class name in the case's model (walking ``modules`` and the fields holding modules)."""
    seen: set[str] = set()
    todo = [case.build()]
    while todo:
        m = todo.pop()
        if isinstance(m, T7Object):
            seen.add(m.class_name)
            todo += list(m.fields.values()) if isinstance(m.fields, dict) else []
        elif isinstance(m, (list, tuple)):
            todo += list(m)
        elif isinstance(m, dict):
            todo += list(m.values())
    return seen | set(case.classes)
