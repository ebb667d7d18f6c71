#!/usr/bin/env python3
"""The README's lists that the code decides: "Supported Torch7 layers" (generated from the converter
registry) and the "Projects" table (checked against it and the tests).

``python tools/readme_lists.py`` prints what differs and exits 1 when the README is stale;
``--write`` rewrites the supported-layers block (and its class count) in place. The projects table is
written by hand (it says why), and only checked: ``tests/test_readme_lists.py`` runs both checks.

Supported-layers format: one line per family file of ``t7convert/conversion/families``,
``- `family`: `nn.A`, `cudnn.A`, `OneHot` ``, the classes sorted by their name without the package
(case-insensitively), then by the whole name.
"""
from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN = "<!-- supported-layers"
END = "<!-- /supported-layers -->"
FAMILIES = "t7convert.conversion.families."
COUNT = re.compile(r"^(\d+) classes, each converted", re.MULTILINE)


FILED = re.compile(r"\bconverts\(([^()]*)\)")


def registered() -> dict[str, str]:
    """Every class t7convert's own families convert (plugins left out), with its family: the family file
    whose ``converts(...)`` names it (a family may file another's function: rnnlib files tensor_ops'
    decorator converter), else the file its converter function is defined in."""
    from t7convert.conversion.context import supported_classes
    from t7convert.conversion.registry import CONVERTERS

    filed = {}
    for path in sorted((ROOT / "t7convert" / "conversion" / "families").glob("*.py")):
        for call in FILED.findall(path.read_text(encoding="utf-8")):
            for name in re.findall(r"[\"']([^\"']+)[\"']", call):
                filed.setdefault(name, path.stem)
    out = {}
    for name in supported_classes():
        module = getattr(CONVERTERS.get(name), "__module__", "")
        if module.startswith(FAMILIES):
            out[name] = filed.get(name, module[len(FAMILIES):])
    return out


def _order(name: str) -> tuple[str, str]:
    return name.rsplit(".", 1)[-1].lower(), name


def supported_lines() -> list[str]:
    families: dict[str, list[str]] = {}
    for name, family in registered().items():
        families.setdefault(family, []).append(name)
    return [f"- `{family}`: " + ", ".join(f"`{n}`" for n in sorted(names, key=_order))
            for family, names in sorted(families.items())]


def readme_block(text: str) -> tuple[int, int]:
    """(start, end) offsets of the list lines between the supported-layers markers."""
    start = text.index("\n", text.index(BEGIN)) + 1
    return start, text.index(END, start)


def regenerated(text: str) -> str:
    """``text`` with the supported-layers block and its class count as the registry says."""
    start, end = readme_block(text)
    text = text[:start] + "\n".join(supported_lines()) + "\n" + text[end:]
    return COUNT.sub(f"{len(registered())} classes, each converted", text, count=1)


def supported_diff(text: str) -> str:
    """A unified diff from the README's block (and count) to the generated one; "" when equal."""
    new = regenerated(text)
    if new == text:
        return ""
    return "".join(difflib.unified_diff(text.splitlines(True), new.splitlines(True), "README.md",
                                        "README.md (generated: python tools/readme_lists.py --write)"))


# --- the Projects table ------------------------------------------------------------------------------
PROJECTS = "<!-- projects-table"
PROJECTS_END = "<!-- /projects-table -->"
VERDICTS = ("converts", "converts in parts", "needs a plugin", "refused", "no model file")
CLASS = re.compile(r"`((?:nn|cudnn|nngraph|onmt|fbnn|nnx|dpnn)\.[A-Za-z_][A-Za-z0-9_]*)`")
PROOF = re.compile(r"(case|test|wild|fixture):([^\s,;)]+)")


def projects_rows(text: str) -> list[dict[str, str]]:
    """The table's rows: project, holds, verdict, why (the proof items are in ``why``)."""
    block = text[text.index(PROJECTS):text.index(PROJECTS_END)]
    rows = []
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 4 or cells[0] in ("project", "") or set(cells[0]) <= set("-: "):
            continue
        rows.append(dict(zip(("project", "holds", "verdict", "why"), cells)))
    return rows


def projects_problems(text: str, *, case_ids: set[str], wild: set[str], fixtures: Path | None) -> list[str]:
    """What the Projects table claims that the code does not back:

    * a verdict that is none of :data:`VERDICTS`;
    * a "converts" row (or "converts in parts") without a proof, or with one that does not exist:
      ``case:ID`` a layer case of ``tests/layer_cases``, ``test:tests/FILE.py::NAME`` a test function,
      ``wild:FILE`` a file of the README's "Real projects checked" table that converts, ``fixture:PATH``
      a shared fixture (checked where ``T7CONVERT_FIXTURES`` is set);
    * a class named in the "holds" cell of a converting row that no converter registers, or in a
      "needs a plugin" row one that is registered (the row is then stale).
    """
    names = set(registered())
    problems = []
    for row in projects_rows(text):
        where, verdict = row["project"], row["verdict"]
        if verdict not in VERDICTS:
            problems.append(f"{where}: verdict {verdict!r} is none of {VERDICTS}")
            continue
        classes = set(CLASS.findall(row["holds"]))
        if verdict.startswith("converts"):
            for c in sorted(classes - names):
                problems.append(f"{where}: says {c} converts, and no converter registers it")
            proofs = PROOF.findall(row["why"])
            if not proofs:
                problems.append(f"{where}: says it converts and cites no case:, test:, wild: or fixture: proof")
            for kind, what in proofs:
                if not _proof_exists(kind, what, case_ids, wild, fixtures):
                    problems.append(f"{where}: proof {kind}:{what} does not exist")
        elif verdict == "needs a plugin":
            for c in sorted(classes & names):
                problems.append(f"{where}: says {c} needs a plugin, and t7convert registers it")
    return problems


def _proof_exists(kind: str, what: str, case_ids: set[str], wild: set[str], fixtures: Path | None) -> bool:
    if kind == "case":
        return what in case_ids
    if kind == "test":
        path, _, name = what.partition("::")
        file = ROOT / path
        return file.is_file() and re.search(rf"^def {re.escape(name)}\(", file.read_text("utf-8"), re.M) is not None
    if kind == "wild":
        return what in wild
    return fixtures is None or (fixtures / what).is_file()


def wild_converted(text: str) -> set[str]:
    """``owner/repo/path`` of each file the "Real projects checked" table shows converted."""
    section = text[text.index("## Real projects checked"):text.index(PROJECTS)]
    out = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[3].startswith("converted"):
            out.add(f"{cells[0]}/{cells[1].strip('`')}")
    return out


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    if "--write" in argv:
        new = regenerated(text)
        if new != text:
            README.write_text(new, encoding="utf-8")
            print("README.md: supported layers regenerated")
        return 0
    diff = supported_diff(text)
    sys.stdout.write(diff)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
