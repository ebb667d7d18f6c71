"""Option values shared by several commands."""
from __future__ import annotations

import re

import click

_SIZE = re.compile(r"^\s*\d{1,9}(\s*[x,]\s*\d{1,9}){0,2}\s*$", re.ASCII)
#: a side of an input: the bound of every extent a converted description stores (2^24)
MOST = 1 << 24


def input_size(text: str | None) -> tuple[int, int, int] | None:
    """``--input-size``: ``C,H,W`` or ``CxHxW``; ``H,W`` means 3 planes; one number S means 3xSxS."""
    if not text:
        return None
    if not _SIZE.match(text):
        raise click.BadParameter(f"{text[:40]!r}: expected C,H,W (or CxHxW, HxW, or one size)",
                                 param_hint="'--input-size'")
    parts = [int(p) for p in re.split(r"[x,]", text.replace(" ", ""))]
    shape = {1: (3, parts[0], parts[0]), 2: (3, *parts)}.get(len(parts), tuple(parts))
    if min(shape) < 1 or max(shape) > MOST:
        raise click.BadParameter(f"{text[:40]!r}: sizes must be from 1 to {MOST:,}", param_hint="'--input-size'")
    return shape  # type: ignore[return-value]
