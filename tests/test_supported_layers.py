"""The README's list of supported layers is the registry's: a class added or dropped shows here."""
from __future__ import annotations

import re
from pathlib import Path

from t7convert.conversion.context import supported_classes as converted
from t7convert.interpreter import supported_classes as executed

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_classes() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Supported Torch7 layers", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    names: set[str] = set()
    for token in re.findall(r"`([A-Za-z/]+\.[A-Za-z0-9]+)`", section):
        packages, cls = token.rsplit(".", 1)
        names.update(f"{p}.{cls}" for p in packages.split("/"))
    return names


def test_every_converted_class_is_executed_by_the_reference_and_listed_in_the_readme():
    assert set(converted()) == set(executed())
    listed = _readme_classes()
    assert set(converted()) - listed == set(), "registered but not in the README's list"
    assert listed - set(converted()) == set(), "in the README's list but not registered"
