"""Renamed arguments and attributes: the old name keeps working for a while, with a DeprecationWarning.

The bottom layer (imports nothing from xrdsynth). One quantity has one name; when a name turns out to mean two
things, the quantity gets a new name and the old one becomes an alias:

- :func:`renamed_keywords` wraps a function or method: a call with the old keyword warns and passes its
  value under the new one; giving both is a TypeError (as Python does for a keyword given twice).
- :func:`renamed_attributes` does the same for a class's constructor (a dataclass or a module) and adds a
  read-only property under the old name that warns and returns the new attribute.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["renamed_attributes", "renamed_keywords"]

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


def _message(owner: str, old: str, new: str) -> str:
    return f"{owner}: '{old}' is deprecated and will be removed; use '{new}' (the same quantity)"


def renamed_keywords(**renames: str) -> Callable[[F], F]:
    """Decorator: keyword ``old`` of the function is a deprecated alias of ``new`` (``old="new"`` pairs).

    The wrapped function's signature (``inspect.signature``) shows only the new names.

    Raises (from the wrapped function):
        TypeError: both the old and the new name are given.
    """

    def wrap(function: F) -> F:
        owner = function.__qualname__.removesuffix(".__init__")

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                value = kwargs.pop(old)
                # The new name may also come positionally: bind what is left to see whether it is given.
                bound = inspect.signature(function).bind_partial(*args, **kwargs).arguments
                if new in kwargs or new in bound:
                    raise TypeError(f"{owner}: give '{new}' or its deprecated alias '{old}', not both")
                warnings.warn(_message(owner, old, new), DeprecationWarning, stacklevel=2)
                kwargs[new] = value
            return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return wrap


def renamed_attributes(**renames: str) -> Callable[[C], C]:
    """Class decorator: constructor keyword and attribute ``old`` are deprecated aliases of ``new``.

    Apply it outside ``@dataclass`` (listed above it), so that it wraps the generated ``__init__``.
    """

    def wrap(cls: C) -> C:
        cls.__init__ = renamed_keywords(**renames)(cls.__init__)  # type: ignore[misc]
        for old, new in renames.items():
            setattr(cls, old, _alias(cls.__name__, old, new))
        return cls

    return wrap


def _alias(owner: str, old: str, new: str) -> property:
    def get(self: Any) -> Any:
        warnings.warn(_message(owner, old, new), DeprecationWarning, stacklevel=2)
        return getattr(self, new)

    get.__doc__ = f"Deprecated alias of ``{new}`` (warns when read)."
    return property(get)
