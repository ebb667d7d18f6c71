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


# --- the whole list, line by line, and the Projects table (tools/readme_lists.py) ---------------------
def _tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_lists", README.parent / "tools" / "readme_lists.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_list_is_what_the_registry_generates_family_by_family():
    """Fails with the diff to apply (``python tools/readme_lists.py --write`` applies it): a class in
    another family, out of order, or a stale class count."""
    diff = _tool().supported_diff(README.read_text(encoding="utf-8"))
    assert diff == "", "README.md's supported layers are stale:\n" + diff


def test_the_projects_table_claims_only_what_the_code_and_tests_back():
    """Every class a converting row names is registered, every proof it cites exists (layer case, test
    function, converted wild file, shared fixture where T7CONVERT_FIXTURES is set), and a "needs a
    plugin" row names no class t7convert converts."""
    import os

    from layer_cases import all_cases

    tool = _tool()
    text = README.read_text(encoding="utf-8")
    rows = tool.projects_rows(text)
    assert len(rows) >= 25, f"the Projects table has {len(rows)} rows"
    fixtures = os.environ.get("T7CONVERT_FIXTURES")
    problems = tool.projects_problems(text, case_ids={c.id for c in all_cases()}, wild=tool.wild_converted(text),
                                      fixtures=Path(fixtures) if fixtures else None)
    assert problems == [], "\n".join(problems)


def test_the_projects_check_catches_a_false_claim():
    """The check itself: a row claiming an unregistered class converts, one citing a case that does not
    exist, and a "needs a plugin" row naming a registered class are each reported."""
    tool = _tool()
    table = ("<!-- projects-table -->\n| project | holds | t7convert | why |\n|---|---|---|---|\n"
             "| a | `nn.NoSuchLayer` | converts | case:no-such-case |\n"
             "| b | `nn.Linear` | needs a plugin | - |\n"
             "| c | `nn.Linear` | converts | nothing cited |\n<!-- /projects-table -->\n")
    problems = tool.projects_problems(table, case_ids={"x"}, wild=set(), fixtures=None)
    assert any("nn.NoSuchLayer" in p for p in problems)
    assert any("case:no-such-case" in p for p in problems)
    assert any(p.startswith("b:") and "nn.Linear" in p for p in problems)
    assert any(p.startswith("c:") and "cites no" in p for p in problems)
