"""A griffe extension: the loaders' API pages show their full parameter list.

`@shared_parameters` (`audiodecode.data.plan`) fills the arguments both
loaders share into their docstrings at import; griffe reads the sources
statically and would see only each loader's own few. For the objects that
decorator wraps, and only those, this extension runs the decorator itself
on what griffe read (the docstring and the parameter names), so
`PARAMETERS` and the merge stay the one source, and the build imports
neither JAX nor torch (importing the two loader modules would cost seconds
of every build).

Configured in mkdocs.yml under the python handler's `extensions`.
"""

from __future__ import annotations

import inspect
from typing import Any

import griffe

DECORATOR = "audiodecode.data.plan.shared_parameters"


class SharedParameters(griffe.Extension):
    """Fill a `@shared_parameters` object's docstring as the decorator does at import."""

    def on_function(self, *, func: griffe.Function, **kwargs: Any) -> None:
        self._fill(func)

    def on_class(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        self._fill(cls)

    def _fill(self, obj: griffe.Function | griffe.Class) -> None:
        if not any(d.callable_path == DECORATOR for d in obj.decorators) or obj.docstring is None:
            return
        from audiodecode.data.plan import shared_parameters  # the package, not the frameworks

        def stand_in() -> None: ...

        # What the decorator reads of a function: its name, docstring and
        # signature (a class's is its __init__'s, which griffe gives as the
        # class's parameters).
        stand_in.__name__ = obj.name
        stand_in.__doc__ = obj.docstring.value
        stand_in.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(p.name, getattr(inspect.Parameter, p.kind.name.upper())) for p in obj.parameters]
        )
        obj.docstring.value = shared_parameters(stand_in).__doc__ or ""
