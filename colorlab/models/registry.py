"""Model families by name (as timm's `register_model`): a family registers itself with
`@register_family("name")`, and the model file builds any registered family, by that name only.

An installed package can offer a family to every command (a fresh `python -m colorlab.colorize`
included) through the entry-point group `colorlab.families` (`name = "package.module"`): the module is
imported when a model file names that family, and only then. A name that no installed package
offers is refused; a file never names a module itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from colorlab.models.contract import ColorModel

FAMILIES: dict[str, type[ColorModel]] = {}
BUILT_IN = ("colorlab.models.colorizer",)  # imported on first lookup, so their families are known

M = TypeVar("M", bound=type[ColorModel])


def register_family(name: str) -> Callable[[M], M]:
    """Class decorator: make a `ColorModel` subclass buildable from model files as `name`."""

    def register(cls: M) -> M:
        if not (isinstance(cls, type) and issubclass(cls, ColorModel)):
            raise TypeError(f"family {name!r}: {cls!r} is not a ColorModel subclass")
        known = FAMILIES.get(name)
        if known is not None and known is not cls:
            raise ValueError(f"family {name!r} is already registered by {known.__module__}.{known.__qualname__}")
        cls.family = name
        FAMILIES[name] = cls
        return cls

    return register


def family(name: object) -> type[ColorModel]:
    """The registered family called `name`; a KeyError lists the known ones."""
    import importlib
    from importlib.metadata import entry_points

    for module in BUILT_IN:
        importlib.import_module(module)
    if isinstance(name, str) and name not in FAMILIES:
        for offered in entry_points(group="colorlab.families"):
            if offered.name == name:
                offered.load()  # an installed package's module, which registers the family
    if not isinstance(name, str) or name not in FAMILIES:
        raise KeyError(f"family {name!r} is not registered (known: {', '.join(sorted(FAMILIES))})")
    return FAMILIES[name]
