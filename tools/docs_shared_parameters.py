"""A griffe extension: the loaders' API pages show their full parameter list.

`@shared_parameters` (`audiodecode.data.plan`) fills the arguments both
loaders share into their docstrings at import; griffe reads the sources
statically and would see only each loader's own few. For the objects that
decorator wraps, and only those, this extension imports the object and
takes its docstring as Python has it, so `PARAMETERS` stays the one source
and the rest of the site stays static (no other import, no JAX or torch
for pages that do not need them).

Configured in mkdocs.yml under the python handler's `extensions`.
"""

from __future__ import annotations

from typing import Any

import griffe

DECORATOR = "audiodecode.data.plan.shared_parameters"


class SharedParameters(griffe.Extension):
    """Replace a `@shared_parameters` object's docstring with its runtime one."""

    def on_function(self, *, func: griffe.Function, **kwargs: Any) -> None:
        self._fill(func)

    def on_class(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        self._fill(cls)

    def _fill(self, obj: griffe.Function | griffe.Class) -> None:
        if not any(d.callable_path == DECORATOR for d in obj.decorators):
            return
        # The loader modules import JAX or torch: seconds, paid once per
        # decorated object's module (two), never for the other pages.
        runtime = griffe.dynamic_import(obj.path)
        old = obj.docstring
        obj.docstring = griffe.Docstring(
            runtime.__doc__ or "",
            lineno=old.lineno if old else None,
            endlineno=old.endlineno if old else None,
            parent=obj,
            parser=old.parser if old else None,
            parser_options=old.parser_options if old else None,
        )
