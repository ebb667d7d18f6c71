"""One Torch7 layer family, one file name in every tree: whoever looks for a layer's converter
(``conversion/families/F.py``), its op's record and builder (``pytorch/families/F.py``), its independent
twin (``interpreter/families/F.py``), its cases (``tests/layer_cases/F.py``) and what it declares about its
input and shape (``@expects_input``... beside its record) finds them under the same ``F``. Read from the
registries themselves, so a registration filed in the wrong file fails here."""
from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict
from typing import Callable

import layer_cases
import pytest
from layer_cases import covered_classes

from t7convert.common.registry import discover
from t7convert.conversion import families as conversion_families
from t7convert.conversion.records import RECORDS
from t7convert.conversion.registry import CONTAINER_HINTS, CONVERTERS, DESCRIBERS, EXTENTS, INPUT_HINTS, SHRINKS
from t7convert.interpreter import families as reference_families
from t7convert.interpreter.registry import LAYERS
from t7convert.pytorch import families as builder_families
from t7convert.pytorch.families import BUILDERS


def _family(fn: Callable) -> str:
    """The family a registered function belongs to: the name of the module that defines it."""
    return fn.__module__.rsplit(".", 1)[-1]


@pytest.fixture(scope="module")
def registries() -> None:
    for package in (conversion_families, reference_families, builder_families):
        discover(package)


def _case_files() -> dict[str, list]:
    return {info.name: importlib.import_module(f"layer_cases.{info.name}").CASES
            for info in pkgutil.iter_modules(layer_cases.__path__)}


def _class_families() -> dict[str, set[str]]:
    """Torch7 class -> the families its converter and its reference twin are filed in."""
    found: dict[str, set[str]] = defaultdict(set)
    for table in (CONVERTERS, LAYERS):
        for name, fn in table.entries.items():
            found[name].add(_family(fn))
    return found


def _misfiled_classes() -> dict[str, set[str]]:
    return {name: fams for name, fams in _class_families().items() if len(fams) > 1}


def test_each_class_has_its_converter_and_reference_twin_in_files_of_one_family_name(registries):
    misfiled = {name: sorted(fams) for name, fams in _misfiled_classes().items()}
    assert misfiled == {}, "converter and reference twin in files of different names"


def test_each_class_is_described_for_inspect_beside_its_converter(registries):
    misfiled = {name: (_family(fn), _family(CONVERTERS.entries[name]))
                for name, fn in DESCRIBERS.entries.items()
                if name in CONVERTERS.entries and _family(fn) != _family(CONVERTERS.entries[name])}
    assert misfiled == {}, "a @describes line away from its class's converter"


def test_each_op_has_its_builder_in_the_file_named_as_the_one_declaring_its_record(registries):
    assert set(BUILDERS.entries) <= set(RECORDS.entries), "a builder for an op with no declared record"
    misfiled = {op: (_family(RECORDS.entries[op]), _family(fn)) for op, fn in BUILDERS.entries.items()
                if _family(fn) != _family(RECORDS.entries[op])}
    assert misfiled == {}, "op: (record's family, builder's family)"


def _op_family(op: str) -> str | None:
    """The family of an op: the file declaring its record, or, for a container the builder assembles from
    its children with no record (DepthConcat, BiSequencer), the file converting the Torch7 class so named."""
    if op in RECORDS.entries:
        return _family(RECORDS.entries[op])
    converter = CONVERTERS.entries.get(f"nn.{op}")
    return None if converter is None else _family(converter)


def test_each_op_declares_its_input_and_shape_in_the_file_declaring_its_record(registries):
    """@expects_input, @expects_input_of_children, @downsamples and @fixes_extent sit beside the op's record."""
    unknown, misfiled = [], {}
    for table in (INPUT_HINTS, CONTAINER_HINTS, SHRINKS, EXTENTS):
        for op, fn in table.entries.items():
            home = _op_family(op)
            if home is None:
                unknown.append((table.what, op))
            elif home != _family(fn):
                misfiled[(table.what, op)] = (home, _family(fn))
    assert unknown == [], "a hint for an op with neither a record nor a converter of that name"
    assert misfiled == {}, "(registry, op): (record's family, hint's family)"


def test_every_family_file_of_every_tree_is_named_as_a_converter_family():
    converter_files = {info.name for info in pkgutil.iter_modules(conversion_families.__path__)}
    for package in (reference_families, builder_families, layer_cases):
        others = {info.name for info in pkgutil.iter_modules(package.__path__)}
        assert others - converter_files == set(), f"{package.__name__}: a family file no converter family has"


def test_each_class_has_a_layer_case_in_the_case_file_named_as_its_family(registries):
    covered_in: dict[str, set[str]] = defaultdict(set)
    for file, cases in _case_files().items():
        for case in cases:
            for name in covered_classes(case):
                covered_in[name].add(file)
    missing = {name: sorted(covered_in[name]) for name, fams in _class_families().items()
               if not fams <= covered_in[name]}
    assert missing == {}, "class: the case files that cover it, none named as its family"


def test_each_layer_case_is_filed_under_a_family_of_a_class_it_covers(registries):
    families = _class_families()
    stray = []
    for file, cases in _case_files().items():
        for case in cases:
            covered = set().union(*(families.get(name, set()) for name in covered_classes(case)))
            if file not in covered:
                stray.append((file, case.id, sorted(covered)))
    assert stray == [], "(case file, case, families it covers)"

