#!/usr/bin/env python3
"""What t7convert makes of real projects' files: the README's table of real projects checked.

For each file of a folder of public ``.t7``/``.net`` files (the shared ``wild`` set, described by its
``MANIFEST.tsv``: repository, path), runs ``t7convert inspect --json`` and ``t7convert convert --json``
(each in its own process, as a user would) and prints a Markdown table: the project, the file, what
``inspect`` finds (the root, the models, the architecture ``convert`` recognises, a stream's object
count) and what ``convert`` does (converted and verified, or the one-line reason it refuses).

    python benchmarks/wild_files.py [../shared/wild] > table.md
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile

T7CONVERT = [sys.executable, "-m", "t7convert"]


def _run(*args: str) -> tuple[int, str, str]:
    r = subprocess.run([*T7CONVERT, *args], capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout, r.stderr


def _short(text: str, n: int = 110) -> str:
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= n else text[: n - 1] + "…"


def check(path: str, out_dir: str) -> tuple[str, str]:
    """(what inspect finds, what convert does) for one file."""
    code, out, err = _run("inspect", path, "--json")
    if code != 0:
        found = "unreadable: " + _short(err.strip().splitlines()[-1].removeprefix("t7convert: error: ")
                                        .removeprefix(path).lstrip(":, "))
    else:
        j = json.loads(out)
        parts = [j["root_description"]]
        if j.get("objects", 1) > 1:
            parts.append(f"a stream of {j['objects']} objects")
        if len(j.get("models") or []) > 1:
            parts.append(f"{len(j['models'])} models")
        if j.get("recognised"):
            parts.append(j["recognised"])
        found = _short("; ".join(parts))
    code, out, err = _run("convert", path, "-o", os.path.join(out_dir, "out.pth"), "--force", "--json")
    if code == 0:
        j = json.loads(out)
        v = j.get("verification") or {}
        done = "converted, " + ("verified" if v.get("ok") else "not verified")
    else:
        line = err.strip().splitlines()[-1] if err.strip() else f"exit {code}"
        line = line.removeprefix("t7convert: error: ").removeprefix(path).lstrip(":, ")
        done = f"refused (exit {code}): " + _short(line, 140)
    return found, done


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "wild")
    with open(os.path.join(folder, "MANIFEST.tsv"), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    print("| project | file | what `inspect` finds | `convert` |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            found, done = check(os.path.join(folder, row["file"]), tmp)
            print(f"| {row['repo']} | `{row['path']}` | {found} | {done} |", flush=True)


if __name__ == "__main__":
    main()
