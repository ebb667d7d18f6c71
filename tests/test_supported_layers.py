"""The README's list of supported layers is the registry's: a class added or dropped shows here."""
from __future__ import annotations

import re
from pathlib import Path

from t7convert.conversion.context import supported_classes as converted
from t7convert.interpreter import supported_classes as executed

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_classes() -> set[str]:
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- supported-layers", 1)[1].split("<!-- /supported-layers -->", 1)[0]
    names: set[str] = set()
    for line in block.splitlines()[1:]:  # "- `family`: `nn.A`, `cudnn.A`, `OneHot`"
        if line.startswith("- `"):
            names.update(re.findall(r"`([^`]+)`", line.split(":", 1)[1]))
    return names


def test_every_converted_class_is_executed_by_the_reference_and_listed_in_the_readme():
    assert set(converted()) == set(executed())
    listed = _readme_classes()
    assert set(converted()) - listed == set(), "registered but not in the README's list"
    assert listed - set(converted()) == set(), "in the README's list but not registered"
