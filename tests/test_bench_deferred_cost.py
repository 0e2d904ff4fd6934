"""bench.deferred_cost on a small SQLite database: both passes run, every deferred text is
answered, and a deferred text costs no more statements than one answered in the request."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import deferred_cost


def test_both_passes_are_measured_and_deferred_costs_no_more_statements(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        deferred_cost.main(["--volunteers", "60", "--database-url", f"sqlite:///{tmp_path}/c.db"])
        == 0
    )
    out = capsys.readouterr().out
    per_text = {
        name: float(statements)
        for name, statements in re.findall(r"^(\w+)\s+70 texts: .* ([\d.]+) statements", out, re.M)
    }
    assert set(per_text) == {"synchronous", "deferred"}, out
    assert per_text["deferred"] <= per_text["synchronous"], out
    assert "ratio:" in out
