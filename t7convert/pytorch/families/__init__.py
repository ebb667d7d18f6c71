"""Builders: converted op -> torch module, one module per layer family (named as the converter's family
in :mod:`t7convert.conversion.families`), with the custom modules Torch7's semantics need where
``torch.nn`` has no exact equivalent. They live apart from the converters because they import torch at
the top (their modules subclass ``nn.Module``), and converting or inspecting a file imports no torch.

``@builds(op)`` files ``fn(record, children) -> nn.Module``, ``record`` being the op's typed record
(:mod:`t7convert.conversion.records`; a plugin's op without one gets its attributes as a dict); every
module of this package is found by :func:`t7convert.common.registry.discover` when :mod:`t7convert.pytorch.modules` is imported.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Any, Callable

from torch import nn

from t7convert.common.registry import Registry

Builder = Callable[[Any, list[nn.Module]], nn.Module]
BUILDERS: Registry[Builder] = Registry("builder", plugins="t7convert.builders")

#: ``@builds("Conv2d")`` files the builder of one converted op.
builds = BUILDERS.register


def builds_module(op: str, cls: Callable[..., nn.Module]) -> None:
    """File ``cls`` as the builder of ``op`` where its constructor is the op's record: the module is
    ``cls(**fields)``, each field of the record under its own name, and no builder function is written."""
    def build(rec: Any, children: list[nn.Module]) -> nn.Module:
        fields = rec if isinstance(rec, dict) else {f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)}
        return cls(**fields)

    build.__qualname__ = f"builds_module({op!r}, {getattr(cls, '__qualname__', cls)})"
    # filed by the family file that called us: tests/test_family_files.py checks where each builder lives
    build.__module__ = sys._getframe(1).f_globals["__name__"]
    builds(op)(build)
