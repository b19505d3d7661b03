"""Name -> class lookup shared by objectives and measures.

A user's new objective or measure must reach every testbed without editing the library, so a
name resolves, in order, to: a class registered in-process with :meth:`Registry.register`, a
class advertised under the registry's entry-point group by an installed package, or a
``module:Name`` import path.
"""
from __future__ import annotations

import importlib
import warnings
from importlib import metadata
from typing import Callable, Dict, Generic, Iterable, Tuple, Type, TypeVar

T = TypeVar("T")


class RegistryError(LookupError):
    """A name that resolves to nothing; the message lists what is available."""


def entry_points(group: str) -> Iterable[metadata.EntryPoint]:
    """The installed distributions' entry points of ``group`` (every extension axis finds plug-ins here)."""
    eps = metadata.entry_points()
    if hasattr(eps, "select"):
        return eps.select(group=group)
    return eps.get(group, [])  # Python < 3.10


def import_path(path: str):
    """Import ``package.module:Attr`` and return the attribute."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise RegistryError(f"{path!r} is not of the form 'module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise RegistryError(f"cannot import module {module_name!r} for {path!r}: {err}") from err
    try:
        return getattr(module, attr)
    except AttributeError as err:
        raise RegistryError(f"module {module_name!r} has no attribute {attr!r}") from err


class Registry(Generic[T]):
    """Classes by name: built-ins, entry points of ``group``, and ``module:Name`` paths."""

    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._classes: Dict[str, Type[T]] = {}
        self._origins: Dict[str, str] = {}
        self._broken: Dict[str, str] = {}  # name -> why its entry point failed to load
        self._by_name_only: set = set()

    def register(self, cls: Type[T] | None = None, *, name: str | None = None, origin: str = "builtin",
                 by_default: bool = True):
        """Register ``cls`` under ``name`` (default ``cls.name``); usable as a decorator.
        ``by_default=False``: resolvable by name but left out of :meth:`default_names` (a variant
        too costly for the default audit, e.g. ``fula_bn``)."""

        def add(c: Type[T]) -> Type[T]:
            key = name or getattr(c, "name", None) or c.__name__
            self._classes[key] = c
            self._origins[key] = origin
            if not by_default:
                self._by_name_only.add(key)
            return c

        return add(cls) if cls is not None else add

    def _discover(self) -> None:
        """Load the group's entry points. One installed plugin that fails to import must not take
        every audit down with it: it is left out with a warning naming it and the error, and
        asking for it by name raises that error as a :class:`RegistryError`."""
        for ep in entry_points(self.group):
            if ep.name in self._classes or ep.name in self._broken:
                continue
            try:
                self._classes[ep.name] = ep.load()
            except Exception as err:  # a plugin's import can fail in any way
                dist = getattr(getattr(ep, "dist", None), "name", None)
                self._broken[ep.name] = (f"{self.kind} {ep.name!r} (entry point {ep.value}"
                                         f"{f' of {dist}' if dist else ''}) fails to load: "
                                         f"{type(err).__name__}: {err}")
                warnings.warn(self._broken[ep.name] + "; it is left out", RuntimeWarning, stacklevel=3)
            else:
                self._origins[ep.name] = f"entry point {ep.value}"

    def get(self, name: str) -> Type[T]:
        if ":" in name:
            return import_path(name)
        if name not in self._classes:
            self._discover()
        if name in self._broken:
            raise RegistryError(self._broken[name])
        if name not in self._classes:
            known = ", ".join(sorted(self.names())) or "none"
            raise RegistryError(f"unknown {self.kind} {name!r}; known: {known}; or give 'module:Name'")
        return self._classes[name]

    def registered(self) -> Dict[str, Type[T]]:
        """What is registered so far (in-process, and entry points already loaded), without
        reading entry points again: for a lookup on a hot path."""
        return dict(self._classes)

    def names(self) -> Tuple[str, ...]:
        self._discover()
        return tuple(self._classes)

    def default_names(self) -> Tuple[str, ...]:
        """What an audit runs when no methods are named: every name but those registered ``by_default=False``."""
        return tuple(n for n in self.names() if n not in self._by_name_only)

    def by_default(self, name: str) -> bool:
        return name not in self._by_name_only

    def origins(self) -> Dict[str, str]:
        """Name -> where it came from (``builtin``, an entry point, ...), for ``stitchtest methods``;
        a plugin that fails to load is listed with its error."""
        self._discover()
        return {**self._origins, **{n: f"BROKEN: {why}" for n, why in self._broken.items()}}

    def create(self, name: str, **kwargs) -> T:
        return self.get(name)(**kwargs)

    def items(self) -> Iterable[Tuple[str, Callable[..., T]]]:
        self._discover()
        return self._classes.items()
