"""The import layers that lint-imports cannot see (pyproject's [tool.importlinter] holds the rest).

The Lambda handlers (functions/*/app.py) are not a package, so they are checked here: they sit on
top of every layer (the product never imports them) and ship without the local tooling. And every
package of shared/drgero must be in one layer of the contract, so a new capability cannot slip
past it unchecked.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared" / "drgero"
HANDLERS = sorted((ROOT / "functions").glob("*/app.py"))
# Development-only code that a deployed handler does not have.
TOOLING = {"localcloud", "drgero_ops", "tests", "bench", "moto"}


def _imported_roots(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at any scope."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def _dynamic_import_targets(path: Path) -> list[str]:
    """String arguments of importlib calls (import_module, spec_from_file_location)."""
    targets = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name in {"import_module", "spec_from_file_location", "__import__"}:
                targets += [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return targets


def test_there_are_handlers_to_check():
    assert len(HANDLERS) >= 10


def test_the_product_never_imports_a_handler():
    offenders = {}
    for path in SHARED.rglob("*.py"):
        roots = _imported_roots(path) & {"app", "functions"}
        dynamic = [t for t in _dynamic_import_targets(path) if "functions" in t or t.split(".")[0] == "app"]
        if roots or dynamic:
            offenders[str(path.relative_to(ROOT))] = sorted(roots) + dynamic
    assert offenders == {}


def test_handlers_import_no_local_tooling():
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & TOOLING)
        for path in HANDLERS
        if _imported_roots(path) & TOOLING
    }
    assert offenders == {}


def test_every_drgero_package_is_in_a_layer_of_the_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["id"] == "layers")["layers"]
    in_layers = {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}
    packages = {f"drgero.{p.parent.name}" for p in SHARED.glob("*/__init__.py")}
    assert packages - in_layers == set(), "add the new package to a layer of [tool.importlinter]"
    assert in_layers - packages == set(), "the contract names a package that no longer exists"
