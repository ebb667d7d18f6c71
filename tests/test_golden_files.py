"""Converted files of every format version t7convert ever wrote still load and compute what they did.

``tests/golden`` keeps small files written by the t7convert of each version (see its ``make_golden.py``):
``format: 1`` module trees (t7convert 0.1), ``format_version: 2`` module trees, and ``format_version: 2``
DAGs, each as ``.pth`` and ``.safetensors``, with the reference execution's output on a seeded input. A
change to the stored description (an op or attribute renamed, a record's field made required) fails here.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import t7convert

GOLDEN = Path(__file__).parent / "golden"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())
FILES = sorted(p.name for p in GOLDEN.iterdir() if p.suffix in (".pth", ".safetensors"))
#: what each tag's files say of themselves: (the version key and value, the graph's form)
VERSIONS = {"v1-tree": ("format", 1, "tree"), "v2-tree": ("format_version", 2, "tree"),
            "v2-dag": ("format_version", 2, "dag")}


def _description(path: Path) -> dict:
    if path.suffix == ".pth":
        return torch.load(path, weights_only=True)["t7convert"]
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["t7convert"])


def test_every_format_version_and_both_file_kinds_are_kept():
    tags = {name.split("-", 1)[1].rsplit(".", 1)[0] for name in FILES}
    assert tags == set(VERSIONS)
    assert {(n.split("-", 1)[0], n.rsplit(".", 1)[1]) for n in FILES} == {
        (m, s) for m in EXPECTED for s in ("pth", "safetensors")}


@pytest.mark.parametrize("name", FILES)
def test_a_golden_file_says_its_version_loads_and_computes_its_stored_output(name):
    path = GOLDEN / name
    model, tag = name.split("-", 1)[0], name.split("-", 1)[1].rsplit(".", 1)[0]
    key, version, form = VERSIONS[tag]
    info = _description(path)
    assert info[key] == version and info["kind"] == "generic"
    assert ("nodes" in info["graph"]) == (form == "dag")
    expected = EXPECTED[model]
    x = np.random.default_rng(expected["input"]["seed"]).standard_normal(expected["input"]["shape"]).astype(np.float32)
    module = t7convert.load(str(path))
    with torch.no_grad():
        got = module(torch.from_numpy(x)).double().numpy()
    want = np.asarray(expected["output"])
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5 * max(np.abs(want).max(), 1e-12)


def test_a_safetensors_header_of_0x380_bytes_is_not_taken_for_a_pickle():
    """Its length field starts 80 03, pickle's protocol-3 opening: found by mlp-v1-tree.safetensors."""
    from t7convert.conversion.model import converted_kind

    head = (0x380).to_bytes(8, "little") + b'{"__metadata__":{}}'
    assert converted_kind(head) == "safetensors"
    assert converted_kind((GOLDEN / "mlp-v1-tree.safetensors").read_bytes()[:64]) == "safetensors"
