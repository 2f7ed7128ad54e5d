"""Old import paths that keep working after a module moved (polars' way).

A module that moved leaves a tiny module at its old path whose module-level
`__getattr__` (PEP 562) is `moved_to(new_home)`: every name is looked up in
the new home and returned with a `DeprecationWarning` that names it, so old
code runs and says where to import from.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable


def moved_to(old: str, new: str) -> Callable[[str], object]:
    """The `__getattr__` of the module at `old` that forwards to `new`.

    Parameters
    ----------
    old : str
        The old module's name (its `__name__`).
    new : str
        The module that now holds its names.

    Returns
    -------
    callable
        `name -> object`: the name from `new`, after a `DeprecationWarning`;
        `AttributeError` for a name `new` does not have.
    """

    def __getattr__(name: str) -> object:
        if name.startswith("__"):
            # Dunder look-ups (__path__, __file__, ...) come from the import
            # machinery and tools, not from the user's code: no warning.
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        home = importlib.import_module(new)
        if not hasattr(home, name):
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(f"{old}.{name} moved to {new}.{name}; import it from {new}", DeprecationWarning, stacklevel=2)
        return getattr(home, name)

    return __getattr__
