"""The exception hierarchy users catch.

Everything t7convert raises on purpose derives from :class:`T7ConvertError`, so a caller (and the CLI)
can tell a problem with the input from a bug in the program.
"""
from __future__ import annotations


class T7ConvertError(Exception):
    """Base class of every error t7convert raises about its input or its work."""


class T7FileNotFoundError(T7ConvertError, FileNotFoundError):
    """The file to read does not exist (caught as either a T7ConvertError or a FileNotFoundError)."""


class T7FormatError(T7ConvertError, ValueError):
    """A file is not a valid Torch7 serialization.

    The message names the file, the byte offset where reading failed and the object path
    (Lua's 1-based indices, e.g. ``modules[4].modules[1].weight``) so the user can find the damage.
    """

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None,
                 object_path: str | None = None) -> None:
        self.reason = message
        self.path = path
        self.offset = offset
        self.object_path = object_path
        parts = []
        if path is not None:
            parts.append(str(path))
        if offset is not None:
            parts.append(f"byte {offset}")
        if object_path:
            parts.append(f"at {object_path}")
        prefix = ", ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class UnsupportedModuleError(T7ConvertError):
    """A Torch7 class has no converter (or no reference implementation)."""


def printable(text: object) -> str:
    """``text`` with what a terminal would not show as itself escaped (a newline as ``\\n``, a control
    or a non-UTF-8 byte as ``\\x1b`` / ``\\udcff``): a file named ``x\\nverdict ... MATCHES`` then prints
    as one line that shows its name, never as a forged line of a report."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
