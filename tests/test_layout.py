"""The package's layout: moved modules keep their old import paths (with a
warning naming the new home), the loader core imports without a circle, and
`import audiodecode` stays free of the frameworks."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import audiodecode
import audiodecode.augment
from audiodecode import _typing

PACKAGE = Path(audiodecode.__file__).parent

# old path -> (new path, a name that moved)
MOVED = {
    "audiodecode.band_filters": ("audiodecode.augment.filters", "LowPassFilter"),
    "audiodecode.waveform": ("audiodecode.augment.waveform", "Clipping"),
    "audiodecode.recorded": ("audiodecode.augment.recorded", "AddBackgroundNoise"),
    "audiodecode.filters": ("audiodecode.filterbanks", "mel_filterbank"),
    "audiodecode.data.mixing": ("audiodecode.augment.mixing", "Mixup"),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_still_imports_and_warns_naming_the_new_home(old: str) -> None:
    new, name = MOVED[old]
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} moved to {new}\.{name}"):
        found = getattr(module, name)
    assert found is getattr(importlib.import_module(new), name)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_the_from_import_form_warns_too(old: str) -> None:
    new, name = MOVED[old]
    with pytest.warns(DeprecationWarning, match=new):
        namespace: dict = {}
        exec(f"from {old} import {name}", namespace)
    assert namespace[name] is getattr(importlib.import_module(new), name)


def test_an_old_path_refuses_a_name_its_new_home_lacks() -> None:
    module = importlib.import_module("audiodecode.waveform")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for a name that is not there
        with pytest.raises(AttributeError, match="no_such_transform"):
            module.no_such_transform  # noqa: B018


def test_the_package_itself_uses_no_old_path() -> None:
    """Importing everything the library has warns about nothing of ours."""
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "import audiodecode, audiodecode.augment, audiodecode.filterbanks, audiodecode.data.reading\n"
        "import audiodecode.data.records, audiodecode.data.setup, audiodecode.data.sources\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_every_augmentation_is_exported_by_the_subpackage_and_the_top_level() -> None:
    for name in audiodecode.augment.__all__:
        assert hasattr(audiodecode.augment, name), name
        if name != "BatchMix":  # the base of Mixup/CutMix, for type hints
            assert getattr(audiodecode, name) is getattr(audiodecode.augment, name), name


def test_import_audiodecode_imports_neither_torch_nor_jax() -> None:
    code = "import sys, audiodecode, audiodecode.augment, audiodecode.data.records; print('torch' in sys.modules, 'jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("first", ["table", "durations", "manifests", "records"])
def test_the_loader_core_imports_in_any_order(first: str) -> None:
    code = f"import audiodecode.data.{first}; import audiodecode.data.records"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _imports(path: Path, *, nested: bool) -> set[str]:
    """The audiodecode modules `path` imports at module level (nested=False)
    or inside functions (nested=True); `from audiodecode.data import x`
    counts as `audiodecode.data.x`."""
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("audiodecode") and (id(node) not in top) == nested:
            found |= {f"{node.module}.{a.name}" for a in node.names} if node.module == "audiodecode.data" else {node.module}
    return found


def test_the_records_modules_import_each_other_one_way_at_module_level() -> None:
    """records -> manifests -> durations -> table: each imports only those
    after it, at module level (no late import papering over a circle)."""
    order = ["records", "manifests", "durations", "table"]
    trio = {f"audiodecode.data.{m}" for m in order}
    for position, name in enumerate(order):
        path = PACKAGE / "data" / f"{name}.py"
        assert not _imports(path, nested=True) & trio, f"{name} imports part of the trio late"
        allowed = {f"audiodecode.data.{m}" for m in order[position + 1 :]}
        assert _imports(path, nested=False) & trio <= allowed, f"{name} imports {_imports(path, nested=False) & trio - allowed}"
    assert {"audiodecode.data.manifests", "audiodecode.data.durations"} <= _imports(PACKAGE / "data" / "records.py", nested=False)


def test_shared_aliases_are_defined_once() -> None:
    """No module but `_typing` spells a shared alias again."""
    names = {"StrPath", "OnError", "Crop", "Layout", "LAYOUTS", "Backend", "AudioSource"}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_typing.py":
            continue
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            for target in targets:
                assert not (isinstance(target, ast.Name) and target.id in names), f"{path}: {target.id}"
    assert _typing.LAYOUTS == ("features_first", "features_last")
