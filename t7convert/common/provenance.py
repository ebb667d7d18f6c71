"""What an output of t7convert came from, in the metadata each format has: the source file's name and sha256,
t7convert's version, the input it was verified on and the worst relative error measured on it.

Kept as one flat dict of strings (ONNX ``metadata_props`` and safetensors metadata take only strings);
the key ``t7convert_provenance`` holds it as JSON where a format has one place for it.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from t7convert.common.version import __version__

KEY = "t7convert_provenance"


def sha256_of(path: str) -> str:
    """The file's sha256, read in 1 MiB pieces (hashlib releases the GIL on them)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance(source: str, *, sha256: str | None = None, verified_on: str = "", max_rel_error: float | None = None,
               fmt: str = "", exporter: str = "") -> dict[str, str]:
    """The provenance record of an output converted from ``source``."""
    record = {"source": os.path.basename(source), "source_sha256": sha256 or sha256_of(source),
              "t7convert": __version__, "verified_on": verified_on or "not verified",
              "max_rel_error": "" if max_rel_error is None else f"{max_rel_error:.3e}"}
    if fmt:
        record["format"] = fmt
    if exporter:
        record["exporter"] = exporter
    return record


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True)

