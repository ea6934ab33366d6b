"""Name -> spec tables for models and datasets, built from what plugins register.

The registry owns names: a duplicate is an error naming both plugins, and an unknown
name is an error listing close matches (as timm's and torchvision's registries do).
"""

from __future__ import annotations

import fnmatch
from typing import Callable, Generic, Iterator, TypeVar

from .config import suggest
from .errors import GanzooError

S = TypeVar("S")


class Registry(Generic[S]):
    """Specs of one kind ("model", "dataset", ...) keyed by name, remembering which plugin gave each."""

    def __init__(self, kind: str, spec_type: type, unknown_hint: Callable[[], str] | None = None) -> None:
        self.kind = kind
        self.spec_type = spec_type
        self._unknown_hint = unknown_hint  # more to say about an unknown name (plugins left out of loading)
        self._specs: dict[str, S] = {}
        self._owners: dict[str, str] = {}
        self._claimants: dict[str, list[str]] = {}  # names more than one plugin registered

    def register(self, spec: S, plugin: str) -> None:
        if not isinstance(spec, self.spec_type):
            raise GanzooError(
                f"plugin {plugin} registered a {type(spec).__name__} as a {self.kind}; expected a {self.spec_type.__name__}"
            )
        name = spec.name
        if name in self._specs:
            # Neither wins: which one loads first is an accident of install order.
            self._claimants.setdefault(name, [self._owners[name]]).append(plugin)
            raise GanzooError(f"{self.kind} {name!r} is registered twice: {self._clash(name)}")
        self._specs[name] = spec
        self._owners[name] = plugin

    def _clash(self, name: str) -> str:
        return "by plugin " + " and by plugin ".join(self._claimants[name])

    def get(self, name: str) -> S:
        if name in self._claimants:
            raise GanzooError(
                f"{self.kind} {name!r} is registered twice ({self._clash(name)}); uninstall one, "
                f"or load only one with GANZOO_LOAD_PLUGINS"
            )
        try:
            return self._specs[name]
        except KeyError:
            raise GanzooError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        """The one line for a name nothing registered: the names there are, close matches, and plugins left out."""
        valid = ", ".join(sorted(self._specs)) or "none registered"
        hint = self._unknown_hint() if self._unknown_hint else ""
        return f"unknown {self.kind} {name!r} (available: {valid}){suggest(name, self._specs)}{hint}"

    def owner(self, name: str) -> str:
        return self._owners[name]

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names, optionally filtered by a shell-style wildcard (``'wgan*'``)."""
        return sorted(n for n in self._specs if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[S]:
        return (self._specs[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._specs)
