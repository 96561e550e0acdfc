"""Dependencies point one way: common <- metrics <- systems <- bench (README, "Layout").

Every import statement of every module is read with ``ast`` (module top and function bodies
alike), so an import cannot hide inside a function. Within the three lower layers, imports of
project modules also sit at module top: a function-level import there would only be dodging a
cycle (lazy imports of heavy third-party packages, such as torch or an optional backend, stay
allowed).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("common", "metrics", "systems", "bench")
#: what each layer may import of the project (itself included)
ALLOWED = {
    "common": {"common"},
    "metrics": {"common", "metrics"},
    "systems": {"common", "metrics", "systems"},
    "bench": set(PROJECT),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[str, int, bool]]:
    """(absolute module name, line, outside any function?) of every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    functions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
    in_function = {id(inner) for node in ast.walk(tree) if isinstance(node, functions)
                   for inner in ast.walk(node)}
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) not in in_function) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, *([node.module] if node.module else [])])
            found.append((name, node.lineno, id(node) not in in_function))
    return found


def layer_files(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", PROJECT)
def test_each_layer_imports_only_the_layers_below_it(layer):
    assert layer_files(layer), f"no modules found under {layer}/"
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for path in layer_files(layer) for name, line, _ in imported_modules(path)
             if name.split(".")[0] in PROJECT and name.split(".")[0] not in ALLOWED[layer]]
    assert not wrong, f"{layer}/ may import only {sorted(ALLOWED[layer])}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("layer", ("common", "metrics", "systems"))
def test_lower_layers_import_the_project_at_module_top(layer):
    hidden = [f"{path.relative_to(ROOT)}:{line} imports {name} inside a function"
              for path in layer_files(layer) for name, line, at_top in imported_modules(path)
              if name.split(".")[0] in PROJECT and not at_top]
    assert not hidden, "\n".join(hidden)


def test_the_checker_sees_imports_inside_functions_and_relative_ones(tmp_path, monkeypatch):
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    module = tmp_path / "metrics" / "embeddings" / "bad.py"
    module.parent.mkdir(parents=True)
    module.write_text("import numpy\nfrom .. import base\nif numpy:\n    import systems\n\n\n"
                      "def f():\n    from bench.paths import x\n")
    assert sorted(imported_modules(module), key=lambda found: found[1]) == [
        ("numpy", 1, True), ("metrics", 2, True), ("systems", 4, True), ("bench.paths", 8, False)]
