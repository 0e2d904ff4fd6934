"""The deployment shape, run as written: the Procfile's release, web and worker lines, and the
all-in-one ``handsup dev`` that ``make run`` starts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from twilio.request_validator import RequestValidator

from service.config import Settings
from service.db import make_engine, unit_of_work
from service.models import Community, Message
from service.redis_conn import connect, free_port
from service.sending.broadcasts import queue_broadcast
from tests.conftest import ACCOUNT_SID, COMMUNITY_NUMBER, PUBLIC_BASE_URL
from tests.fakes.twilio_server import FakeTwilio
from workers.worker import WORKER_NICE

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def ignore_sigint() -> None:
    """In a child before it starts: SIGINT ignored, as in a script's background job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def process_env(settings: Settings, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "HANDSUP_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        HANDSUP_ENV="production",
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url or "",
        SECRET_KEY="procfile-test-secret-at-least-32-bytes-long",
        TWILIO_ACCOUNT_SID=settings.twilio_account_sid or "",
        TWILIO_AUTH_TOKEN=settings.twilio_auth_token or "",
        TWILIO_API_BASE_URL=settings.twilio_api_base_url or "",
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        PORT=str(port),
        HANDSUP_INSTANCE_PATH=str(settings.instance_path),
    )
    return env


@contextmanager
def running(command: str, env: dict[str, str], cwd: Path = ROOT) -> Iterator[subprocess.Popen[Any]]:
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        env=env,
        cwd=cwd,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[Any], timeout: float = 30) -> None:
    """SIGTERM to the process's group, as a platform stops a process, then SIGKILL to the group
    when it is still running ``timeout`` s later."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def run_release(lines: dict[str, str], env: dict[str, str]) -> None:
    """The Procfile's release line (migrations), as a platform runs it before the processes."""
    release = subprocess.run(
        ["bash", "-c", lines["release"]],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert release.returncode == 0, release.stderr


def wait_for(url: str, process: subprocess.Popen[Any], timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"process exited with {process.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body: bytes = response.read()
                return body
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def signed_post(port: int, path: str, form: dict[str, str], token: str) -> tuple[int, str]:
    from urllib.parse import urlencode

    signature = RequestValidator(token).compute_signature(PUBLIC_BASE_URL + path, form)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=urlencode(form).encode(),
        headers={"X-Twilio-Signature": signature},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


def test_procfile_release_web_and_worker_run_as_written(
    settings: Settings,
    community: Community,
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
) -> None:
    lines = procfile()
    assert set(lines) == {"release", "web", "worker"}
    port = free_port()
    env = process_env(settings, port)
    run_release(lines, env)

    with running(lines["web"], env) as web, running(lines["worker"], env) as worker:
        assert b'"ok"' in wait_for(f"http://127.0.0.1:{port}/healthz", web)
        assert b'"redis":"ok"' in wait_for(f"http://127.0.0.1:{port}/readyz", web).replace(
            b" ", b""
        )
        form = {
            "MessageSid": "SM" + "7" * 32,
            "AccountSid": ACCOUNT_SID,
            "From": "+12025550123",
            "To": COMMUNITY_NUMBER,
            "Body": "JOIN",
            "NumMedia": "0",
        }
        status, twiml = signed_post(port, "/twilio/inbound", form, settings.twilio_auth_token or "")
        assert status == 200 and "What is your name?" in twiml

        from service.models import Volunteer, VolunteerStatus

        with unit_of_work(session_factory) as session:
            session.add(
                Volunteer(
                    community_id=community.id, phone="+12025550124", status=VolunteerStatus.ACTIVE
                )
            )
        with unit_of_work(session_factory) as session:
            assert queue_broadcast(session, community, "Procfile check") == 1
        deadline = time.monotonic() + 120  # bounds a hung run; idle, a few seconds
        while not fake_twilio.messages and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stdout.read().decode() if worker.stdout else ""
            time.sleep(0.3)
        assert [m.to for m in fake_twilio.messages] == ["+12025550124"]
        # the worker yields the CPU to the web process (workers.worker.WORKER_NICE)
        assert niceness(worker.pid) - niceness(web.pid) == WORKER_NICE
    assert web.returncode is not None and worker.returncode is not None


def niceness(pid: int) -> int:
    """A process' nice value, from /proc/<pid>/stat (field 19)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def test_handsup_dev_serves_healthz_and_the_simulator_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith(("TEST_", "TWILIO_"))
    }
    env.update(
        HANDSUP_ENV="development",
        HANDSUP_INSTANCE_PATH=str(tmp_path / "instance"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    process = subprocess.Popen(
        [str(BIN / "handsup"), "dev", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # as a script's background job starts it (a shell without job control ignores SIGINT
        # there): Ctrl-C must stop it all the same, and this test then does not depend on how
        # pytest itself was started
        preexec_fn=ignore_sigint,
    )
    try:
        assert b'"ok"' in wait_for(f"http://127.0.0.1:{port}/healthz", process, timeout=90)
        page = wait_for(f"http://127.0.0.1:{port}/simulator/?community=demo", process)
        assert b"Riverside Mutual Aid" in page
        ready = wait_for(f"http://127.0.0.1:{port}/readyz", process)
        assert b'"redis":"ok"' in ready.replace(b" ", b"")
        icon = wait_for(f"http://127.0.0.1:{port}/favicon.ico", process)
        assert icon[:4] == b"\x00\x00\x01\x00"  # an ICO: browsers stop logging 404s for it
        # a separate local command reaches the same Redis, and the worker delivers the
        # broadcast to the demo volunteers through the simulator channel (quiet hours off, so
        # the test does not depend on the time of day)
        quiet_off = subprocess.run(
            [
                str(BIN / "handsup"),
                "community-settings",
                "--community",
                "demo",
                "--quiet-start",
                "00:00",
                "--quiet-end",
                "00:00",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert quiet_off.returncode == 0, quiet_off.stderr
        broadcast = subprocess.run(
            [str(BIN / "handsup"), "broadcast", "--community", "demo", "--text", "Sandbags"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert broadcast.returncode == 0, broadcast.stderr
        assert "queued 8 message(s)" in broadcast.stdout
        assert "Redis unavailable" not in broadcast.stderr
        engine = make_engine(f"sqlite:///{tmp_path / 'instance' / 'handsup.db'}")
        deadline = time.monotonic() + 120  # bounds a hung run; idle, a few seconds
        statuses: list[str] = []
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                statuses = list(
                    connection.scalars(
                        select(Message.status).where(
                            Message.kind == "broadcast", Message.body.endswith(": Sandbags")
                        )
                    )
                )
            if statuses and all(s == "delivered" for s in statuses):
                break
            time.sleep(0.5)
        engine.dispose()
        assert statuses == ["delivered"] * 8
        # scheduled jobs fire in this mode: the worker runs RQ's scheduler
        url = (tmp_path / "instance" / "redis" / "url").read_text().strip()
        job = Queue("default", connection=connect(url)).enqueue_in(
            timedelta(seconds=1), "workers.outbox.pump"
        )
        deadline = time.monotonic() + 120  # bounds a hung run; idle, a few seconds
        while job.get_status(refresh=True) != "finished" and time.monotonic() < deadline:
            time.sleep(0.3)
        assert job.get_status(refresh=True) == "finished"
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
        output = process.communicate(timeout=60)[0].decode()
    finally:
        # failed before its Ctrl-C: SIGTERM first, so that the supervisor stops its children
        # (each leads a process group of its own, which a SIGKILL of the supervisor's group
        # alone would leave running)
        stop_group(process)
    assert re.search(r"Simulator:\s+http://127\.0\.0\.1:\d+/simulator/", output)
    # Quiet: one line per request (the app's, no gunicorn access line), no warnings.
    assert len([line for line in output.splitlines() if "GET /favicon.ico" in line]) == 1
    assert "HTTP/1.1" not in output
    assert not re.search(r"warn", output, re.IGNORECASE), output
    assert not (tmp_path / "instance" / "redis" / "url").exists()  # announcement withdrawn
    assert "demo@example.org" in output
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
