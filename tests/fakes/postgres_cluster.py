"""A private, throwaway PostgreSQL cluster for fault tests that stop and start the server.

The shared PostgreSQL on 127.0.0.1:5432 serves other test runs and must never be restarted, so
a test that takes the database away runs its own: ``initdb`` into a temporary folder, ``pg_ctl
start`` on a free loopback port with the socket in that folder, ``stop -m fast`` / ``start``
on demand, and everything removed on ``close()``. ``initdb`` refuses to run as root, so as root
the binaries run as the ``postgres`` system user through ``runuser`` (the Debian package
creates that user). ``find_binaries()`` returns a skip reason when no usable PostgreSQL is
installed, so tests can skip with it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psycopg

RUN_AS = "postgres"  # the system user Debian's postgresql package creates


@dataclass(frozen=True)
class Binaries:
    bin_dir: Path
    run_as: str | None  # a user to run them as (we are root), or None: as ourselves


def find_binaries() -> Binaries | str:
    """PostgreSQL's server binaries and how to run them, or the reason they cannot be used."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    on_path = shutil.which("initdb")
    candidates = [Path(p).parent for p in reversed(found)]
    if on_path:
        candidates.append(Path(on_path).parent)
    bin_dir = next((d for d in candidates if (d / "pg_ctl").is_file()), None)
    if bin_dir is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql"
    if os.geteuid() != 0:
        return Binaries(bin_dir, None)
    runuser = shutil.which("runuser")
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        return f"initdb refuses root and there is no {RUN_AS!r} user to run it as"
    if runuser is None:
        return "initdb refuses root and runuser is missing"
    return Binaries(bin_dir, RUN_AS)


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivatePostgres:
    """One cluster in a temporary folder; a context manager that always cleans up."""

    def __init__(self, binaries: Binaries, database: str = "handsup") -> None:
        self.binaries = binaries
        self.database = database
        self.port = free_loopback_port()
        self.base = Path(tempfile.mkdtemp(prefix="handsup-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"
        if binaries.run_as is not None:
            user = pwd.getpwnam(binaries.run_as)
            os.chown(self.base, user.pw_uid, user.pw_gid)
        self.base.chmod(0o700)

    def __enter__(self) -> PrivatePostgres:
        try:
            self.init()
            self.start()
            self.create_database()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        command = [str(self.binaries.bin_dir / tool), *args]
        if self.binaries.run_as is not None:
            command = ["runuser", "-u", self.binaries.run_as, "--", *command]
        done = subprocess.run(
            command,
            cwd=self.base,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                f"\n{self.log_tail()}"
            )

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        # Durability settings off: a fast shutdown still checkpoints, and nothing here must
        # survive a crash of the machine.
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=100"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self) -> None:
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{self.database}"')

    def log_tail(self, chars: int = 3000) -> str:
        with suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def close(self) -> None:
        """Stop the server (immediately: nothing is kept) and delete the folder."""
        if (self.data / "postmaster.pid").exists():
            with suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        deadline = time.monotonic() + 10
        while (self.data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.base, ignore_errors=True)
