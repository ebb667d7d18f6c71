"""One small registry mechanism, shared by every table that files a function under a name.

The converters, the module builders, the reference execution's layers, the input hints and the shape
maps are each one :class:`Registry`: they share the mechanics (decorator registration, refusing a name
filed twice, listing what is covered), never the semantics, which stay in the subsystem that owns them.
Families register themselves when their module is imported; :func:`discover` imports every module of a
package, so a new family is one new file and no import list is edited.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType
from typing import Callable, Generic, Iterator, TypeVar

F = TypeVar("F", bound=Callable)


class Registry(Generic[F]):
    """Functions filed by name (a Torch7 class name, or a converted op), each name at most once."""

    def __init__(self, what: str, plugins: str | None = None) -> None:
        self.what = what          # "converter", "builder"...: named in the duplicate error
        self._entries: dict[str, F] = {}
        #: the entry-point group other packages register into (:func:`load_plugins`): imported the first
        #: time a name is missing, so that a model of built-in layers pays nothing for the scan
        self.plugins = plugins
        self._plugins_loaded = plugins is None

    def _load_plugins(self) -> None:
        if not self._plugins_loaded:
            self._plugins_loaded = True
            load_plugins(self.plugins)  # type: ignore[arg-type]

    def register(self, *names: str) -> Callable[[F], F]:
        """A decorator filing the function under each of ``names`` (stack variants: nn.X, cudnn.X)."""
        def file(fn: F) -> F:
            for name in names:
                if name in self._entries:
                    raise ValueError(f"{name} already has a {self.what}: {self._entries[name].__qualname__}")
                self._entries[name] = fn
            return fn
        return file

    @property
    def entries(self) -> dict[str, F]:
        """The table itself (tests replace one entry with ``monkeypatch.setitem``)."""
        return self._entries

    def get(self, name: str) -> F | None:
        fn = self._entries.get(name)
        if fn is None and not self._plugins_loaded:
            self._load_plugins()
            fn = self._entries.get(name)
        return fn

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        """Every registered name, plugins' included, sorted (for messages and the README's list)."""
        self._load_plugins()
        return sorted(self._entries)


def discover(package: ModuleType) -> list[str]:
    """Import every module of ``package`` (each registers its families as it is imported)."""
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
        found.append(info.name)
    return found


@functools.lru_cache(maxsize=1)
def _all_entry_points():
    from importlib.metadata import entry_points

    return entry_points()  # one scan of the installed distributions serves every group


#: group -> one line per plugin of that group that failed to import (kept for the refusals to name)
_BROKEN: dict[str, list[str]] = {}


def load_plugins(group: str) -> list[str]:
    """Import the modules other packages declare under the entry-point ``group`` (each registers its
    own families as it is imported, as a family file here does): a user's ``MyLab.FancyLayer`` is a
    plugin package, not a fork. A plugin that fails to import (broken, or filing a name already taken)
    does not stop the others, nor any model that does not need it: it is recorded, and
    :func:`broken_plugins` names it where a class is then missing."""
    loaded = []
    for ep in sorted(_all_entry_points().select(group=group), key=lambda e: e.name):
        try:
            ep.load()
        except Exception as e:  # noqa: BLE001 - a broken plugin must say which it is, and only where it matters
            reason = str(e).splitlines()[0][:160] if str(e) else ""
            _BROKEN.setdefault(group, []).append(f"the t7convert plugin {ep.name!r} ({ep.value}) failed to import: "
                                                 f"{type(e).__name__}: {reason}")
            continue
        loaded.append(ep.name)
    return loaded


def broken_plugins(group: str | None) -> str:
    """``"; the t7convert plugin 'x' (...) failed to import: ..."`` for the plugins of ``group`` that
    failed, or an empty string: appended to a "no converter for" refusal, in its one line."""
    return "".join(f"; {line}" for line in _BROKEN.get(group or "", []))
