"""The floors and areas keep their import rules: import-linter's contracts (pyproject.toml,
run by ``make lint``) hold on the tree, and a deliberate violation breaks them.

The violation tests copy the three packages to a temporary folder, plant one bad import and
run ``lint-imports`` there, so the contracts are shown to catch what they claim to.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("flows", "service", "workers")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def run_lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_every_contract() -> None:
    result = run_lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


# (file, line planted at its end, the contract that must break)
VIOLATIONS = [
    ("flows/sms.py", "import requests", "flows is pure"),
    ("flows/sms.py", "import socket", "flows is pure"),
    ("flows/parsing.py", "import urllib.request", "flows is pure"),
    ("flows/parsing.py", "import psycopg", "flows is pure"),
    ("flows/keywords.py", "import importlib", "flows is pure"),
    ("flows/engine.py", "from service.sending import gate", "Floors"),
    ("flows/shifts.py", "from flows import donations", "Roster kinds are independent"),
    ("flows/donations.py", "from flows.shifts import ShiftView", "Roster kinds are independent"),
    ("flows/engine.py", "from flows import shifts", "The engine and the plug-in"),
    ("flows/kinds.py", "from flows import conversation", "The engine and the plug-in"),
    ("service/app.py", "import workers.dispatch", "Floors"),
    ("service/rosters/shifts.py", "from workers import reminders", "Floors"),
    ("service/web/health.py", "from service.sending import dispatcher", "The web floor"),
    ("service/web/console/inbox.py", "from service.sending.pacing import Rate", "The web floor"),
    ("service/web/twilio_webhooks.py", "from service.sending import planning", "The web floor"),
]


@pytest.mark.parametrize(("path", "line", "contract"), VIOLATIONS)
def test_a_planted_violation_breaks_its_contract(
    tree_copy: Path, path: str, line: str, contract: str
) -> None:
    target = tree_copy / path
    original = target.read_text(encoding="utf-8")
    target.write_text(f"{original}\n\ndef _planted() -> None:\n    {line}  # noqa\n")
    try:
        result = run_lint_imports(tree_copy)
    finally:
        target.write_text(original, encoding="utf-8")
    assert result.returncode != 0
    broken = [ln for ln in result.stdout.splitlines() if " BROKEN" in ln]
    assert any(ln.startswith(contract) for ln in broken), result.stdout + result.stderr


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_has_a_docstring(package: str) -> None:
    missing = [
        str(path.relative_to(ROOT))
        for path in (ROOT / package).rglob("*.py")
        if "migrations/versions" not in str(path)
        and ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    assert missing == []
