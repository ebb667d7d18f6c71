"""How many bytes a conversion may materialise: the whole conversion's budget, beside the reader's.

The reader bounds each storage by the file's bytes and expanded views by a multiple of the file's size
(:mod:`t7convert.torch7.format.reader`). What a conversion then makes of them (copies of non-contiguous
views, expanded views made dense, arrays converters compute) is what the output holds and what loading
it takes, so it is bounded here too, before any tensor is made, verification run or byte written: the
distinct arrays of the converted state may add up to ``MATERIALISED_FACTOR`` times the input file's size,
or ``MATERIALISED_FLOOR`` bytes when that is more. A real model's weights are at most its file's bytes (a
half or byte model widened to float32: 4x); a file of a few KB asking for gigabytes is damage. Arrays that
are the same view of the same memory (a module Torch7 shares between places) count once, as they are
stored once.
"""
from __future__ import annotations

import zlib
from typing import Any, Iterator, Mapping

import numpy as np

from t7convert.common.errors import T7ConvertError

MATERIALISED_FLOOR = 1 << 28  # 256 MiB
MATERIALISED_FACTOR = 16


def view_key(a: np.ndarray) -> tuple:
    """What makes two arrays the same view of the same memory (then they are one tensor in the output)."""
    return a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str


def distinct_arrays(state: Mapping[str, Any]) -> Iterator[np.ndarray]:
    """The state's arrays, each view of the same memory once (as the output stores them)."""
    seen: set[tuple] = set()
    for a in state.values():
        if isinstance(a, np.ndarray):
            key = view_key(a)
            if key not in seen:
                seen.add(key)
                yield a


def materialised_bytes(state: Mapping[str, Any]) -> int:
    """The bytes of the state's distinct arrays once each is one contiguous tensor."""
    return sum(a.size * a.dtype.itemsize for a in distinct_arrays(state))


def check_materialised(state: Mapping[str, Any], file_size: int) -> None:
    """Refuse a converted state larger than the budget (see the module's doc), in one line."""
    total = materialised_bytes(state)
    limit = max(MATERIALISED_FLOOR, MATERIALISED_FACTOR * file_size)
    if total > limit:
        raise T7ConvertError(f"the converted weights would take {total:,} bytes from a file of {file_size:,} "
                             f"(more than {limit:,}: {MATERIALISED_FACTOR} times the file, or "
                             f"{MATERIALISED_FLOOR >> 20} MiB); a file this small cannot hold them, so it is "
                             "refused as damaged or crafted")


def state_digest(state: Mapping[str, Any]) -> int:
    """A CRC-32 of the state's distinct arrays. The weights are views of the memory-mapped input, so one
    taken before verification and one taken once the output is written tell whether the bytes written are
    the bytes verified (a file rewritten in place in between, keeping its size and time, changes them)."""
    crc = 0
    for a in distinct_arrays(state):
        crc = zlib.crc32(memoryview(np.ascontiguousarray(a)).cast("B"), crc)
    return crc
