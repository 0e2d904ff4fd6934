"""The three floors import only downwards: workers → service → flows, and flows is pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "flows": {"service", "workers", "flask", "twilio", "sqlalchemy", "redis", "rq", "werkzeug"},
    "service": {"workers"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downwards(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
        if imported_modules(path) & FORBIDDEN[package]
    }
    assert offenders == {}


@pytest.mark.parametrize("package", ["flows", "service", "workers"])
def test_every_module_has_a_docstring(package: str) -> None:
    missing = [
        str(path.relative_to(ROOT))
        for path in (ROOT / package).rglob("*.py")
        if "migrations/versions" not in str(path)
        and ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    assert missing == []


def flows_modules_imported(path: Path) -> set[str]:
    """The ``flows`` modules a module imports (``from flows import x``, ``import flows.x``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "flows":
                names.update(alias.name for alias in node.names)
            elif node.module.startswith("flows."):
                names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("flows."))
    return names


ROSTER_KINDS = {"shifts", "donations"}


@pytest.mark.parametrize("kind", sorted(ROSTER_KINDS))
def test_roster_kinds_do_not_import_each_other(kind: str) -> None:
    assert flows_modules_imported(ROOT / "flows" / f"{kind}.py") & (ROSTER_KINDS - {kind}) == set()


def test_the_engine_and_the_plug_in_interface_know_no_roster_kind() -> None:
    for module in ("engine", "kinds", "keywords", "commitments"):
        imported = flows_modules_imported(ROOT / "flows" / f"{module}.py")
        assert imported & (ROSTER_KINDS | {"conversation"}) == set(), module
