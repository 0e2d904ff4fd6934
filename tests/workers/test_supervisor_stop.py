"""``handsup dev`` stops what its children started too: a child that ignores SIGTERM past the
timeout is killed with its whole process group, grandchildren included (RQ's scheduler and
the worker's lane processes are a worker's children)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import wait_until
from workers.supervisor import stop

# A child that ignores SIGTERM, starts a grandchild that ignores it too, and writes the
# grandchild's pid to a file.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen(
    [sys.executable, "-c",
     "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"]
)
open(sys.argv[1], "w").write(str(grandchild.pid))
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead but still listed until its parent (here init) reaps it
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def test_a_child_that_ignores_sigterm_is_killed_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    child = subprocess.Popen([sys.executable, "-c", STUBBORN, str(pid_file)], process_group=0)
    wait_until(lambda: pid_file.exists() and bool(pid_file.read_text()), "the grandchild started")
    grandchild = int(pid_file.read_text())
    try:
        stop([child], timeout=0.5)
        assert child.returncode == -signal.SIGKILL
        wait_until(lambda: not alive(grandchild), "the grandchild is gone", interval=0.05)
    finally:
        for pid in (child.pid, grandchild):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
