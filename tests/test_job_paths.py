"""Every job or callable named by a dotted string in ``service`` and ``workers`` resolves.

``service`` never imports ``workers``, so it names jobs (and the worker and dev supervisor the
CLI starts) by dotted path; a typo there would only show when RQ or the CLI runs it. This test
reads the source, not a list, so a new path is checked the day it is written.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from rq.utils import import_attribute

from service.cli.processes import RUN_DEV, RUN_WORKER
from service.sending.dispatcher import SEND_BATCH_JOB
from service.sending.outbox import RUN_ITEM_JOB

ROOT = Path(__file__).resolve().parent.parent
DOTTED_PATH = re.compile(r"^workers(\.[a-z_][a-z0-9_]*)+$")
LOOKS_LIKE_A_PATH = re.compile(r"^workers\.\S+$")


def job_arguments(tree: ast.AST) -> set[int]:
    """Ids of string literals passed as ``job=`` or to ``enqueue*(...)``, whatever they say."""
    named: set[int] = set()
    for call in ast.walk(tree):
        if isinstance(call, ast.Call):
            named.update(id(k.value) for k in call.keywords if k.arg == "job")
            if isinstance(call.func, ast.Attribute) and call.func.attr.startswith("enqueue"):
                named.update(id(arg) for arg in call.args)
    return named


def named_paths() -> dict[str, list[str]]:
    """Each string that looks like ``workers.<...>`` or names a job → where it is written."""
    found: dict[str, list[str]] = {}
    for package in ("service", "workers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            jobs = job_arguments(tree)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and (LOOKS_LIKE_A_PATH.match(node.value) or id(node) in jobs)
                ):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.setdefault(node.value, []).append(where)
    return found


def problem(dotted: str) -> str | None:
    if not DOTTED_PATH.match(dotted):
        return "not a workers.<module>.<name> path"
    try:
        target = import_attribute(dotted)
    except (ImportError, AttributeError, ValueError) as exc:
        return f"does not resolve: {type(exc).__name__}: {exc}"
    return None if callable(target) else f"resolves to a {type(target).__name__}, not a callable"


def test_every_dotted_job_path_resolves_to_a_callable() -> None:
    found = named_paths()
    # the scan sees the constants it exists for (an empty scan would pass vacuously)
    assert {RUN_WORKER, RUN_DEV, SEND_BATCH_JOB, RUN_ITEM_JOB} <= found.keys()
    broken = {
        f"{dotted} ({', '.join(places)})": reason
        for dotted, places in sorted(found.items())
        if (reason := problem(dotted)) is not None
    }
    assert broken == {}
