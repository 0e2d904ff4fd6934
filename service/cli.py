"""The ``handsup`` command line: one console script reading the same environment as the app.

Every command has ``--help`` and exits non-zero with a one-line reason on bad input. The
worker is started by dotted path, so ``service`` still never imports ``workers``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import click
from rq.utils import import_attribute
from sqlalchemy.orm import Session

from service import migrate, outbox
from service.accounts import AccountError, create_coordinator
from service.broadcasts import BroadcastError, queue_broadcast
from service.communities import CommunityError, create_community, find_community
from service.config import ConfigError, Settings, database_url_from_env
from service.db import make_engine, make_session_factory, unit_of_work, utcnow
from service.demo import seed_demo
from service.inbound import InboundMessage, handle_inbound
from service.models import ChannelKind, Role
from service.phones import InvalidPhoneNumber, to_e164
from service.redis_conn import (
    EmbeddedRedis,
    announce,
    connect,
    free_port,
    redis_url_for,
    withdraw,
)
from service.volunteer_io import ImportFileError, export_volunteers, import_volunteers

RUN_WORKER = "workers.worker.run_worker"
USER_ERRORS = (
    ConfigError,
    CommunityError,
    AccountError,
    BroadcastError,
    ImportFileError,
    InvalidPhoneNumber,
)


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def database(settings: Settings | None = None) -> Iterator[Session]:
    """A unit of work on the configured database; user errors become one-line exits."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            yield session
    except USER_ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()


def kick_outbox(settings: Settings) -> None:
    """Hand queued rows to RQ now (the worker's pump would also pick them up)."""
    engine = make_engine(settings.database_url)
    try:
        outbox.enqueue_due(make_session_factory(engine), connect(redis_url_for(settings)))
    finally:
        engine.dispose()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """HandsUp: volunteer rosters over SMS and WhatsApp."""


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Apply migrations to DATABASE_URL (the Procfile's release step)."""
    url = database_url_from_env()
    try:
        migrate.upgrade(url, revision)
    except Exception as exc:  # alembic raises many types; report one line, non-zero
        raise click.ClickException(f"migration failed: {exc}") from exc
    click.echo(f"database at revision {revision}")


@main.command("create-community")
@click.option("--name", required=True, help="Display name, used in texts.")
@click.option("--slug", required=True, help="Short id: lowercase letters, digits, dashes.")
@click.option("--number", required=True, help="The community's Twilio SMS number (E.164).")
@click.option("--whatsapp-number", default=None, help="WhatsApp sender number (E.164).")
@click.option("--country", required=True, help="ISO country code for local numbers, e.g. US.")
@click.option("--timezone", required=True, help="IANA time zone, e.g. America/New_York.")
@click.option("--help-contact", default="", help="How to reach a coordinator (shown in HELP).")
def create_community_cmd(
    name: str,
    slug: str,
    number: str,
    whatsapp_number: str | None,
    country: str,
    timezone: str,
    help_contact: str,
) -> None:
    """Create a community with its SMS (and optional WhatsApp) channel."""
    with database() as session:
        community = create_community(
            session,
            name=name,
            slug=slug,
            number=number,
            whatsapp_number=whatsapp_number,
            country=country,
            timezone=timezone,
            help_contact=help_contact,
        )
        click.echo(f"created community {community.slug} (id {community.id})")


@main.command("create-coordinator")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--email", required=True)
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.COORDINATOR.value,
    show_default=True,
)
def create_coordinator_cmd(slug: str, email: str, role: str) -> None:
    """Create a coordinator login; the password is read from stdin."""
    password = sys.stdin.readline().rstrip("\r\n")
    with database() as session:
        community = find_community(session, slug)
        create_coordinator(
            session, community=community, email=email, password=password, role=Role(role)
        )
        click.echo(f"{email} is {role} of {slug}")


@main.command("import-volunteers")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
def import_volunteers_cmd(slug: str, file: TextIO) -> None:
    """Import name,phone[,language,skills] rows; the importer attests consent."""
    with database() as session:
        community = find_community(session, slug)
        report = import_volunteers(
            session, community, file, source=f"import:{Path(file.name).name}", now=utcnow()
        )
    click.echo(
        f"imported {report.created} new, updated {report.updated}, rejected {len(report.errors)}"
    )
    for error in report.errors:
        click.echo(str(error), err=True)
    if report.errors:
        sys.exit(1)


@main.command("export-volunteers")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option(
    "--out",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Output file (default: stdout).",
)
def export_volunteers_cmd(slug: str, out: TextIO) -> None:
    """Export volunteers as CSV, with status (active, paused, opted_out)."""
    with database() as session:
        export_volunteers(session, find_community(session, slug), out)


@main.command("broadcast")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--text", required=True, help="The message (the community name is prefixed).")
@click.option("--skill", default=None, help="Only volunteers with this skill.")
@click.option("--language", default=None, help="Only volunteers with this language.")
def broadcast_cmd(slug: str, text: str, skill: str | None, language: str | None) -> None:
    """Queue a text to every active volunteer (opted-out ones are never included)."""
    settings = load_settings()
    with database(settings) as session:
        count = queue_broadcast(
            session, find_community(session, slug), text, skill=skill, language=language
        )
    kick_outbox(settings)
    click.echo(f"queued {count} message(s)")


@main.command("simulate")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--from", "sender", required=True, help="Your phone number (E.164 or local).")
def simulate_cmd(slug: str, sender: str) -> None:
    """Text the service from this terminal; an empty line or Ctrl-D quits."""
    settings = load_settings()
    with database(settings) as session:
        community = find_community(session, slug)
        phone = to_e164(sender, community.country)
        simulator = community.channel(ChannelKind.SIMULATOR)
        if simulator is None:
            raise click.ClickException(f"{slug} has no simulator channel")
        address, name = simulator.address, community.name
    click.echo(f"Texting {name} as {phone}. Empty line to quit.")
    for line in _prompt_lines():
        with database(settings) as session:
            result = handle_inbound(
                session,
                InboundMessage(
                    f"SIM{secrets.token_hex(16)}", ChannelKind.SIMULATOR, phone, address, line
                ),
                utcnow(),
            )
        for reply in result.replies or ("(no reply)",):
            click.echo(f"< {reply}")


def _prompt_lines() -> Iterator[str]:
    while True:
        try:
            line = input("> ") if sys.stdin.isatty() else sys.stdin.readline()
        except EOFError:
            return
        if not line.strip():
            return
        yield line.strip()


@main.command("demo")
def demo_cmd() -> None:
    """Seed a demo community, coordinator and volunteers (safe to run twice)."""
    with database() as session:
        login = seed_demo(session)
        slug = login.community.slug
    state = "created" if login.created else "already present"
    click.echo(f"demo community '{slug}' {state}; login {login.email} / {login.password}")


@main.command("worker")
@click.option("--burst", is_flag=True, help="Run until the queues are empty, then exit.")
def worker_cmd(burst: bool) -> None:
    """Run an RQ worker with the scheduler and the outbox pump."""
    settings = load_settings()
    run: Callable[..., bool] = import_attribute(RUN_WORKER)
    run(settings, burst=burst)


@main.command("dev")
@click.option("--port", default=None, type=int, help="Web port (default: PORT or 5000).")
def dev_cmd(port: int | None) -> None:
    """Local all-in-one (make run): migrate, seed, embedded Redis, web and worker."""
    os.environ.setdefault("HANDSUP_ENV", "development")
    settings = load_settings()
    web_port = port or settings.port
    migrate.upgrade(settings.database_url)
    with database(settings) as session:
        login = seed_demo(session)
        slug = login.community.slug
    embedded: EmbeddedRedis | None = None
    env = dict(os.environ)
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.instance_path / "redis", port=free_port())
        env["REDIS_URL"] = embedded.url
        announce(settings.instance_path, embedded.url)
    signal.signal(signal.SIGTERM, _interrupt)  # a PaaS or a terminal closing: stop cleanly
    children = _start_children(env, web_port)
    base = f"http://127.0.0.1:{web_port}"
    click.echo(
        f"\nHandsUp is running.\n"
        f"  Simulator:  {base}/simulator/?community={slug}\n"
        f"  Health:     {base}/healthz   Ready: {base}/readyz\n"
        f"  Demo login: {login.email} / {login.password} (for the console, when it lands)\n"
        f"  Redis:      {env.get('REDIS_URL')}\n"
        f"Press Ctrl-C to stop.\n"
    )
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        raise click.ClickException("a child process exited; stopping")
    except KeyboardInterrupt:
        click.echo("stopping...")
    finally:
        _stop(children)
        if embedded is not None:
            withdraw(settings.instance_path)
            embedded.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _start_children(env: dict[str, str], port: int) -> list[subprocess.Popen[Any]]:
    web = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--access-logfile",
        "-",
        "service.app:create_app()",
    ]
    worker = [sys.executable, "-m", "service.cli", "worker"]
    return [subprocess.Popen(cmd, env=env) for cmd in (web, worker)]  # noqa: S603


def _stop(children: list[subprocess.Popen[Any]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


if __name__ == "__main__":
    main()
