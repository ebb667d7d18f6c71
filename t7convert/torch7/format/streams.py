"""Primitive readers for the two encodings Torch7's DiskFile writes: binary and ascii.

Both expose the same small interface the object reader needs (``int``, ``long``, ``longs``, ``double``,
``raw`` and ``array``), check every length against the bytes that are left before reading or allocating,
and raise :class:`StreamError` with the byte offset where the problem is.

Binary (torch7 lib/TH/THDiskFile.c): little-endian; ints 4 bytes; longs 8 bytes, or 4 bytes in files
written by builds where C ``long`` is 32-bit (Windows) or with ``longSize(4)``. Storage data is raw and is
not read here: :meth:`BinaryStream.array` returns a zero-copy view over the (memory-mapped) file, so bytes
are paged in only when a tensor that needs them is used.

Ascii: each scalar is a line; an array of n numbers is one line of n space-separated values (nothing at
all when n == 0); strings and Byte/Char data are raw bytes followed by a newline. Doubles are ``%.17g``
(``nan``, ``-nan``, ``inf``), floats ``%.9g``.
"""
from __future__ import annotations

import re
import struct

import numpy as np

_INT = struct.Struct("<i")
_LONG8 = struct.Struct("<q")
_DOUBLE = struct.Struct("<d")


class StreamError(Exception):
    """A primitive read failed at ``offset`` (converted to T7FormatError by the reader)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class BinaryStream:
    """Reads Torch7's binary encoding from a buffer (bytes or an mmap) without copying storage data."""

    encoding = "binary"
    min_object_bytes = 4  # a type tag

    def __init__(self, buffer, long_size: int = 8) -> None:
        if long_size not in (4, 8):
            raise ValueError("long_size must be 4 or 8")
        self.view = memoryview(buffer).cast("B")
        self.end = len(self.view)
        self.pos = 0
        self.long_size = long_size
        self._long = _LONG8 if long_size == 8 else _INT
        self._long_dtype = np.dtype("<i8") if long_size == 8 else np.dtype("<i4")

    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int, what: str) -> int:
        if n < 0:
            raise StreamError(f"negative length {n} for {what}", self.pos)
        if n > self.end - self.pos:
            raise StreamError(f"truncated: {what} needs {n} bytes, {self.end - self.pos} left", self.pos)
        start = self.pos
        self.pos += n
        return start

    # int, double and raw are the reader's inner loop (a checkpoint holds tens of thousands of them):
    # the bounds check is inlined, the slow path only builds the message.
    def int(self, what: str = "an int") -> int:
        pos = self.pos
        if pos + 4 > self.end:
            self._need(4, what)
        self.pos = pos + 4
        return _INT.unpack_from(self.view, pos)[0]

    def long(self, what: str = "a long") -> int:
        return self._long.unpack_from(self.view, self._need(self.long_size, what))[0]

    def longs(self, n: int, what: str = "longs") -> list[int]:
        start = self._need_elems(n, self.long_size, what)
        if n == 0:
            return []
        return np.frombuffer(self.view, self._long_dtype, n, start).tolist()

    def double(self, what: str = "a number") -> float:
        pos = self.pos
        if pos + 8 > self.end:
            self._need(8, what)
        self.pos = pos + 8
        return _DOUBLE.unpack_from(self.view, pos)[0]

    def raw(self, n: int, what: str = "bytes") -> bytes:
        pos = self.pos
        if n < 0 or pos + n > self.end:
            self._need(n, what)
        self.pos = pos + n
        return bytes(self.view[pos:pos + n])

    def array(self, dtype: np.dtype, n: int, what: str = "storage data", long_data: bool = False) -> np.ndarray:
        """n elements of ``dtype``; a lazy view of the file, or a converted copy for 4-byte longs."""
        if long_data and self.long_size == 4:
            start = self._need_elems(n, 4, what)
            return np.frombuffer(self.view, "<i4", n, start).astype(np.int64)
        start = self._need_elems(n, dtype.itemsize, what)
        # Its own memoryview, so that each storage is a distinct buffer (the writer keeps views that
        # share one storage together, and must not think two storages of one file are one).
        return np.frombuffer(self.view[start:start + n * dtype.itemsize], dtype)

    def _need_elems(self, n: int, itemsize: int, what: str) -> int:
        if n < 0:
            raise StreamError(f"negative size {n} for {what}", self.pos)
        if n > (self.end - self.pos) // itemsize:
            raise StreamError(f"truncated: {what} needs {n * itemsize} bytes, {self.end - self.pos} left",
                              self.pos)
        return self._need(n * itemsize, what)


_NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf|infinity)\Z", re.I)
_INTEGER = re.compile(rb"[-+]?\d+\Z")
_WHITESPACE = b" \t\r\n\v\f"
_TOKEN = re.compile(rb"[ \t\r\n\v\f]*([^ \t\r\n\v\f]*)")
# Torch7 writes numbers with %d, %.9g or %.17g: at most 24 characters. Longer tokens are damage, and
# are refused before they reach a regular expression or int() (whose cost grows with their length).
_MAX_TOKEN = 64
_BLANKS = re.compile(rb"[ \t\r]*")
_BLANK = re.compile(rb"[ \t\r\v\f]")
#: tokens converted at a time by the ascii reader
_CHUNK = 1 << 16


class AsciiStream:
    """Reads Torch7's ascii encoding (``torch.save(f, x, 'ascii')``) from bytes in memory."""

    encoding = "ascii"
    min_object_bytes = 2  # a type tag and its newline
    long_size = 8

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.end = len(self.data)
        self.pos = 0

    def remaining(self) -> int:
        return self.end - self.pos

    # fscanf skips leading whitespace; after n > 0 values, one newline is consumed (auto-spacing).
    def _token(self, what: str) -> bytes:
        m = _TOKEN.match(self.data, self.pos)
        start, stop = m.span(1)
        if start == stop:
            raise StreamError(f"truncated: expected {what}, found the end of the file", start)
        if stop - start > _MAX_TOKEN:
            raise StreamError(f"expected {what}, found {stop - start} characters without a space", start)
        self.pos = stop
        return self.data[start:stop]

    def _eat_newline(self) -> None:
        if self.pos < self.end and self.data[self.pos] == 0x0A:
            self.pos += 1

    def _integer(self, what: str) -> int:
        start = self.pos
        tok = self._token(what)
        if not _INTEGER.match(tok):
            raise StreamError(f"expected an integer for {what}, found {tok[:20]!r}", start)
        return int(tok)

    def int(self, what: str = "an int") -> int:
        value = self._integer(what)
        if not -2**31 <= value < 2**31:
            raise StreamError(f"{what} {value} does not fit in a 32-bit int", self.pos)
        self._eat_newline()
        return value

    def long(self, what: str = "a long") -> int:
        value = self._integer(what)
        if not -2**63 <= value < 2**63:
            raise StreamError(f"{what} {value} does not fit in a 64-bit long", self.pos)
        self._eat_newline()
        return value

    def longs(self, n: int, what: str = "longs") -> list[int]:
        return self.array(np.dtype("<i8"), n, what).tolist()

    def double(self, what: str = "a number") -> float:
        start = self.pos
        tok = self._token(what)
        if not _NUMBER.match(tok):
            raise StreamError(f"expected a number for {what}, found {tok[:20]!r}", start)
        self._eat_newline()
        return float(tok)

    def raw(self, n: int, what: str = "bytes") -> bytes:
        if n < 0:
            raise StreamError(f"negative length {n} for {what}", self.pos)
        if n > self.end - self.pos:
            raise StreamError(f"truncated: {what} needs {n} bytes, {self.end - self.pos} left", self.pos)
        start = self.pos
        self.pos += n
        if n:
            self._eat_newline()
        return self.data[start:start + n]

    def array(self, dtype: np.dtype, n: int, what: str = "storage data", long_data: bool = False) -> np.ndarray:
        """n values of ``dtype``: raw bytes for Byte/Char, otherwise n whitespace-separated numbers."""
        if n < 0:
            raise StreamError(f"negative size {n} for {what}", self.pos)
        if dtype.itemsize == 1 and dtype.kind in "ui":
            return np.frombuffer(self.raw(n, what), dtype).copy()
        if n == 0:
            return np.empty(0, dtype)
        if n > (self.end - self.pos + 1) // 2:
            raise StreamError(f"truncated: {what} of {n} values cannot fit in the {self.end - self.pos} bytes left",
                              self.pos)
        # Torch7 writes the n values on one line: split that line when it holds exactly n tokens, else
        # read token by token. Either way a chunk of tokens at a time is converted into the result, so
        # that the memory is the result's plus one chunk's (a list of 30 million bytes objects, or one
        # 64-character token widening them all to S64, took 40 times the file). The newline is looked
        # for only as far as n tokens can reach: a file without newlines costs O(n) per array.
        start = _BLANKS.match(self.data, self.pos).end()
        out = np.empty(n, dtype)
        nl = self.data.find(b"\n", start, min(self.end, start + n * (_MAX_TOKEN + 1) + 1))
        if nl >= 0 and self._fill_from_line(out, start, nl, what):
            self.pos = nl
        else:
            self.pos = start
            done = 0
            while done < n:
                chunk = [self._token(what) for _ in range(min(_CHUNK, n - done))]
                self._convert(out, done, chunk, what, start)
                done += len(chunk)
        self._eat_newline()
        return out

    def _fill_from_line(self, out: np.ndarray, start: int, nl: int, what: str) -> bool:
        """Fill ``out`` from the tokens of ``data[start:nl]``, a window at a time; False (nothing to keep)
        when the line does not hold exactly ``len(out)`` tokens of at most _MAX_TOKEN characters."""
        done, pos = 0, start
        while pos < nl:
            stop = min(pos + _CHUNK * 8, nl)
            if stop < nl:  # end the window at a blank, so that no token is cut
                blank = _BLANK.search(self.data, stop, min(nl, stop + _MAX_TOKEN + 1))
                if blank is None:
                    return False
                stop = blank.start()
            chunk = self.data[pos:stop].split()
            if done + len(chunk) > len(out) or any(len(t) > _MAX_TOKEN for t in chunk):
                return False
            self._convert(out, done, chunk, what, start)
            done, pos = done + len(chunk), stop
        return done == len(out)

    @staticmethod
    def _convert(out: np.ndarray, at: int, tokens: list[bytes], what: str, start: int) -> None:
        """``out[at:at + len(tokens)]`` from the tokens, each checked to be a number first."""
        pattern = _NUMBER if out.dtype.kind == "f" else _INTEGER
        for tok in tokens:
            if not pattern.match(tok):
                raise StreamError(f"expected {len(out)} numbers for {what}, found {tok[:20]!r}", start)
        if not tokens:
            return
        if out.dtype.kind == "f":
            with np.errstate(over="ignore"):  # 1e39 in a FloatStorage: inf, as Torch7's %g read into a float gives
                out[at:at + len(tokens)] = np.array(tokens).astype(np.float64).astype(out.dtype)
            return
        info = np.iinfo(out.dtype)
        try:
            values = np.array(tokens).astype(np.int64)
        except (OverflowError, ValueError):
            raise StreamError(f"a value of {what} does not fit in {out.dtype}", start) from None
        if values.min() < info.min or values.max() > info.max:
            raise StreamError(f"a value of {what} does not fit in {out.dtype}", start)
        out[at:at + len(tokens)] = values.astype(out.dtype)
