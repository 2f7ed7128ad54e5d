"""The documentation stays true to the code: every name of the package and
every repository file it mentions exists (so a rename cannot leave the docs
stale), and the API reference shows the loaders' docstrings as Python has
them (with the shared parameters `@shared_parameters` fills in).

Three forms are read from `docs/**/*.md`, the tutorial notebook and the
README: dotted paths (`audiodecode.data.audio_files`, in prose and in
mkdocstrings' `::: ...` directives), `ad.X` (the pages' `import audiodecode
as ad`) and `from audiodecode.x import a, b`. Each is resolved the way
Python would: the longest prefix that imports as a module, then `getattr`
for the rest. A name reached through a moved module's old path (which still
works, with a `DeprecationWarning`) counts as stale, except on a line that
also names its new home: the table of old import paths.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "docs" / "tutorial.ipynb", ROOT / "README.md"]

DOTTED = re.compile(r"\baudiodecode(?:\.[A-Za-z_]\w*)+")
SHORT = re.compile(r"\bad\.([A-Za-z_]\w*)")
# `from audiodecode.jax import loader, AudioLoader` (names up to the line's
# end or a closing parenthesis; `as` renames are cut off).
FROM_IMPORT = re.compile(r"\bfrom (audiodecode(?:\.\w+)*) import \(?([\w, ]+)")


def mentions() -> dict[str, list[str]]:
    """Each dotted name the pages mention -> the lines (`page:number`) that mention it."""
    found: dict[str, list[str]] = {}
    for page in PAGES:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            names = set(DOTTED.findall(line)) | {f"audiodecode.{n}" for n in SHORT.findall(line)}
            for module, imported in FROM_IMPORT.findall(line):
                names |= {f"{module}.{n.split(' as ')[0].strip()}" for n in imported.split(",") if n.strip()}
            for name in names:
                found.setdefault(name, []).append(f"{page.relative_to(ROOT)}:{number}")
    return found


MENTIONS = mentions()


def moved_home(module: object) -> str | None:
    """Where a moved module's names now live (`audiodecode._moved`), or None."""
    forward = getattr(module, "__getattr__", None) if inspect.ismodule(module) else None
    if forward is None or not forward.__qualname__.startswith("moved_to."):
        return None
    return inspect.getclosurevars(forward).nonlocals["new"]


def resolve(name: str) -> tuple[object, list[str]]:
    """The object `name` names, and the moved modules on the way there."""
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError as error:
            # Only "this prefix is no module" moves on to a shorter one; a
            # missing third-party package (jax, torch) is the environment's.
            if error.name is None or not ".".join(parts[:split]).startswith(error.name):
                raise
            continue
        break
    else:
        raise AssertionError(f"{name}: no module of it imports")
    chain = [obj]
    for at, part in enumerate(parts[split:], split):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert hasattr(chain[-1], part), f"{name}: {'.'.join(parts[:at])} has no {part!r}"
            chain.append(getattr(chain[-1], part))
    return chain[-1], [home for home in map(moved_home, chain) if home]


def test_the_pages_mention_names() -> None:
    # The extraction itself: a broken pattern would pass every name vacuously.
    for name in ("audiodecode.load", "audiodecode.jax.loader", "audiodecode.torch.AudioDataLoader",
                 "audiodecode.data.audio_files", "audiodecode.AddNoise"):
        assert name in MENTIONS, name


@pytest.mark.parametrize("name", sorted(MENTIONS))
def test_every_mentioned_name_resolves(name: str) -> None:
    for framework in ("jax", "torch"):
        if name.startswith(f"audiodecode.{framework}"):
            pytest.importorskip(framework)
    _, moved = resolve(name)
    for home in moved:
        # An old path is only right beside its new home (the table of old paths).
        lines = [where for where in MENTIONS[name] if home not in line_at(where)]
        assert not lines, f"{name} goes through a moved module (now {home}) at {', '.join(lines)}"


def line_at(where: str) -> str:
    """The text of `page:number`."""
    page, number = where.rsplit(":", 1)
    return (ROOT / page).read_text().splitlines()[int(number) - 1]


def test_a_renamed_name_fails() -> None:
    with pytest.raises((AssertionError, ModuleNotFoundError)):
        resolve("audiodecode.data.records.no_such_name")
    with pytest.raises(AssertionError):
        resolve("audiodecode.no_such_module.load")
    assert resolve("audiodecode.filters")[1] == ["audiodecode.filterbanks"]
    assert resolve("audiodecode.filters.mel_filterbank")[1] == ["audiodecode.filterbanks"]


def test_the_data_packages_static_imports_are_its_exports() -> None:
    # The API reference reads `audiodecode.data`'s names from its
    # TYPE_CHECKING imports (statically); users get them from `_EXPORTS`.
    import audiodecode.data as data

    tree = ast.parse(Path(data.__file__).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    static = {(alias.name, node.module.rsplit(".", 1)[-1]) for node in block.body for alias in node.names}
    assert static == set(data._EXPORTS.items())
    assert set(data.__all__) == set(data._EXPORTS)


# A repository file the pages point to (`core_rs/src/sniff.rs`,
# `tests/test_resume.py`): source files only, not outputs (charts, JSON).
REPO_FILE = re.compile(r"\b(?:core_rs|audiodecode|tests|benchmarks|demo|fuzz|docs|tools|requirements)/[\w/.-]*\.(?:py|pyi|rs|md|sh|txt|toml|ipynb)\b")


def test_every_repository_file_mentioned_exists() -> None:
    mentioned = {(path, page.relative_to(ROOT)) for page in PAGES for path in REPO_FILE.findall(page.read_text())}
    assert len(mentioned) > 20, "the pattern finds the pages' file paths"
    missing = sorted(f"{path} (in {page})" for path, page in mentioned if not (ROOT / path).exists())
    assert not missing, missing


@pytest.mark.parametrize(("path", "framework"), [("audiodecode.jax.data_loader.loader", "jax"),
                                                 ("audiodecode.torch.loader.AudioDataLoader", "torch")])
def test_the_api_reference_shows_the_loaders_docstrings_as_python_has_them(path: str, framework: str) -> None:
    # The griffe extension behind the API pages runs `@shared_parameters` on
    # what it reads statically; the result is the docstring `help()` shows.
    griffe = pytest.importorskip("griffe")
    pytest.importorskip(framework)
    spec = importlib.util.spec_from_file_location("docs_shared_parameters", ROOT / "tools" / "docs_shared_parameters.py")
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    package = griffe.GriffeLoader(extensions=griffe.load_extensions(extension.SharedParameters()), search_paths=[str(ROOT)])
    static = package.load("audiodecode")[path.removeprefix("audiodecode.")]
    runtime, _ = resolve(path)
    assert static.docstring.value == inspect.cleandoc(runtime.__doc__)
    assert "sr : int" in static.docstring.value and "num_buckets : int" in static.docstring.value
