"""The "Deploying on a PaaS" section of docs/deployment.md, run as written.

The section's Procfile block must be the Procfile, and its Heroku-style shell block is run line
by line by a small stand-in for the platform (``Platform`` below): ``addons:create`` attaches
this machine's PostgreSQL (as the ``postgres://`` URL Heroku hands out) and Redis,
``config:set`` is evaluated by bash exactly as written (only the ``AC...`` and ``...``
placeholders are filled in, as a user would), ``git push`` runs the Procfile's ``release``
line, ``ps:scale`` starts that many ``web`` and ``worker`` processes from the Procfile, and
``heroku run`` runs its command in a one-off process with the same environment. Every
variable the block sets must be in a configuration table of the docs.

Then what the section and "Twilio setup" promise is checked through the running processes,
the way Twilio and a PaaS router reach them: the health checks answer; a text signed for
``PUBLIC_BASE_URL`` + ``/twilio/inbound``, arriving as ``http://`` with the router's
``X-Forwarded-*`` headers, walks a volunteer through onboarding on the number the block
created; a broadcast from a one-off ``handsup broadcast`` reaches the fake Twilio REST server
through the worker with a status callback on ``PUBLIC_BASE_URL`` + ``/twilio/status``, and that
callback, signed like Twilio's, records the delivery. PostgreSQL only: a PaaS gives a managed
PostgreSQL, and SQLite is never a production database.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from twilio.request_validator import RequestValidator

from service.config import Settings
from service.db import unit_of_work
from service.models import Community, Direction, Message, MessageStatus
from service.redis_conn import free_port
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.fakes.twilio_server import FakeTwilio
from tests.test_docs import all_docs, documented_settings
from tests.test_processes import procfile, running, wait_for

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENT = ROOT / "docs" / "deployment.md"
VOLUNTEER = "+12025550177"

pytestmark = pytest.mark.slow


def section(title: str) -> str:
    text = DEPLOYMENT.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block."""
    return [(m[1], m[2]) for m in re.finditer(r"```(\w*)\n(.*?)```", markdown, re.S)]


def shell_commands(block: str) -> list[str]:
    """The block's commands, continuation lines joined."""
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def configuration_variables() -> set[str]:
    """Every variable named in the first cell of a row of a table in the docs."""
    return documented_settings(all_docs())


@dataclass
class Platform:
    """A stand-in for a Procfile PaaS that runs the deployment page's commands on this machine."""

    database_url: str
    redis_url: str
    twilio_api_base_url: str
    instance_path: Path
    stack: ExitStack
    env: dict[str, str] = field(default_factory=dict)
    web_ports: list[int] = field(default_factory=list)
    config_vars: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        import os
        import sys

        bin_dir = Path(sys.executable).parent
        self.env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            # What this stand-in adds that a real platform would not need: the fake Twilio
            # REST host, and a folder of its own for the instance path.
            "TWILIO_API_BASE_URL": self.twilio_api_base_url,
            "HANDSUP_INSTANCE_PATH": str(self.instance_path),
        }

    def run(self, command: str) -> None:
        words = shlex.split(command)
        assert words[0] in ("heroku", "git"), command
        action = words[1]
        if words[0] == "git":
            assert words[1:] == ["push", "heroku", "main"], command
            self.release()
        elif action == "create":
            pass  # the app's name only
        elif action == "addons:create":
            self.attach(words[2])
        elif action == "config:set":
            self.config_set(command)
        elif action == "ps:scale":
            self.scale(dict(word.split("=") for word in words[2:]))
        elif action == "run":
            self.one_off(command.split(" run ", 1)[1])
        else:
            raise AssertionError(f"the stand-in does not know {command!r}")

    def attach(self, addon: str) -> None:
        if addon == "heroku-postgresql":  # Heroku still hands out postgres:// URLs
            self.env["DATABASE_URL"] = re.sub(
                r"^postgresql(\+\w+)?://", "postgres://", self.database_url
            )
        elif addon == "heroku-redis":
            self.env["REDIS_URL"] = self.redis_url
        else:
            raise AssertionError(f"unknown add-on {addon}")

    def config_set(self, command: str) -> None:
        filled = re.sub(
            r"TWILIO_ACCOUNT_SID=AC\.\.\.", f"TWILIO_ACCOUNT_SID={ACCOUNT_SID}", command
        )
        filled = re.sub(
            r"TWILIO_AUTH_TOKEN=\.\.\.(?=\s)", f"TWILIO_AUTH_TOKEN={AUTH_TOKEN}", filled
        )
        assert "..." not in filled, f"a placeholder the stand-in cannot fill: {filled}"
        # bash evaluates the assignments as written ("$(python3 -c ...)" included)
        evaluated = subprocess.run(
            ["bash", "-c", filled.replace("heroku config:set", "env -i", 1)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        for line in evaluated.splitlines():
            name, value = line.split("=", 1)
            assert value, f"{name} is set to nothing"
            self.env[name] = value
            self.config_vars.add(name)

    def release(self) -> None:
        self.one_off(procfile()["release"])

    def scale(self, counts: dict[str, str]) -> None:
        assert set(counts) <= {"web", "worker"}, counts
        lines = procfile()
        for _ in range(int(counts.get("web", "0"))):
            port = free_port()
            web = self.stack.enter_context(running(lines["web"], {**self.env, "PORT": str(port)}))
            wait_for(f"http://127.0.0.1:{port}/healthz", web)
            self.web_ports.append(port)
        for _ in range(int(counts.get("worker", "0"))):
            self.stack.enter_context(running(lines["worker"], self.env))

    def one_off(self, command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", command],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
        return done.stdout

    def through_router(
        self, url: str, form: dict[str, str] | None = None, signed: bool = False
    ) -> tuple[int, str]:
        """A request for the public ``url``, as the PaaS router hands it to a web process:
        plain http on the process's port, with ``X-Forwarded-For`` and ``-Proto``."""
        parts = urllib.parse.urlsplit(url)
        headers = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": parts.scheme}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            if signed:
                token = self.env["TWILIO_AUTH_TOKEN"]
                headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(url, form)
        target = f"http://127.0.0.1:{self.web_ports[0]}{parts.path}"
        if parts.query:
            target += f"?{parts.query}"
        request = urllib.request.Request(target, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


def test_the_procfile_block_is_the_procfile() -> None:
    blocks = [body for _, body in code_blocks(section("Deploying on a PaaS"))]
    assert (ROOT / "Procfile").read_text() in blocks


@pytest.mark.postgres
def test_the_deploy_section_runs_as_written(
    settings: Settings,
    session_factory: sessionmaker[Session],
    fake_twilio: FakeTwilio,
    tmp_path: Path,
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("a PaaS deploy runs on PostgreSQL (TEST_DATABASE_URL)")
    shell = [
        body for language, body in code_blocks(section("Deploying on a PaaS")) if language == "sh"
    ]
    assert len(shell) == 1, "one Heroku-style shell block"
    commands = shell_commands(shell[0])

    with ExitStack() as stack:
        platform = Platform(
            settings.database_url,
            settings.redis_url or "",
            fake_twilio.url,
            tmp_path / "dyno",
            stack,
        )
        for command in commands:
            platform.run(command)

        undocumented = platform.config_vars - configuration_variables()
        assert not undocumented, (
            f"config:set sets variables the docs do not explain: {undocumented}"
        )
        assert {"SECRET_KEY", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL"} <= platform.config_vars
        assert platform.web_ports, "the block scales web to at least one process"
        public = platform.env["PUBLIC_BASE_URL"]

        # Health checks, as the section describes them.
        assert platform.through_router(f"{public}/healthz")[0] == 200
        status, body = platform.through_router(f"{public}/readyz")
        assert status == 200 and '"redis"' in body

        # The community the block created, with the number given to --number.
        create = next(c for c in commands if " create-community " in c)
        words = shlex.split(create)
        number, slug = (words[words.index(option) + 1] for option in ("--number", "--slug"))
        with unit_of_work(session_factory) as session:
            community = session.scalars(select(Community).where(Community.slug == slug)).one()
            community_id = community.id

        # Twilio setup, step 3: texts reach https://YOUR-HOST/twilio/inbound.
        replies = []
        for sid, text in enumerate(("JOIN", "Ana", "YES")):
            form = {
                "MessageSid": f"SM{sid:032d}",
                "AccountSid": ACCOUNT_SID,
                "From": VOLUNTEER,
                "To": number,
                "Body": text,
                "NumMedia": "0",
            }
            status, twiml = platform.through_router(f"{public}/twilio/inbound", form, signed=True)
            assert status == 200
            replies.append(twiml)
        assert "What is your name?" in replies[0]
        assert "Welcome, Ana!" in replies[2]

        # The worker sends what is not an immediate reply, asking for a status callback on
        # PUBLIC_BASE_URL. (Quiet hours off, so the test does not depend on the time of day.)
        platform.one_off(
            f"handsup community-settings --community {slug} --quiet-start 00:00 --quiet-end 00:00"
        )
        platform.one_off(f"handsup broadcast --community {slug} --text 'Sandbags at 6 tonight'")
        deadline = time.monotonic() + 30
        while not fake_twilio.messages and time.monotonic() < deadline:
            time.sleep(0.3)
        sent = fake_twilio.messages
        assert [m.to for m in sent] == [VOLUNTEER]
        assert "Sandbags at 6 tonight" in sent[0].body
        callback = sent[0].status_callback or ""
        assert callback.startswith(f"{public}/twilio/status"), callback
        form = {
            "MessageSid": sent[0].sid,
            "AccountSid": ACCOUNT_SID,
            "MessageStatus": "delivered",
            "To": VOLUNTEER,
        }
        status, _ = platform.through_router(callback, form, signed=True)
        assert status == 204
        with unit_of_work(session_factory) as session:
            broadcast = session.scalars(
                select(Message).where(
                    Message.community_id == community_id,
                    Message.direction == Direction.OUTBOUND,
                    Message.kind == "broadcast",
                )
            ).one()
            assert broadcast.status == MessageStatus.DELIVERED

        # Unsigned: refused, as "Twilio setup" says.
        assert platform.through_router(f"{public}/twilio/inbound", {"Body": "JOIN"})[0] == 403
