"""Accounts and privacy settings from the terminal: ``create-coordinator``, ``set-password``,
``community-settings --retention-days``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.communities.accounts import verify_password
from service.models import AuditEvent, Community, Coordinator
from tests.service.conftest import Cli, one_line_error


def _coordinator(db: Session, email: str) -> Coordinator:
    db.expire_all()
    found = db.scalar(select(Coordinator).where(Coordinator.email == email))
    assert found is not None
    return found


def _add(cli: Cli, email: str = "lead@example.org") -> None:
    result = cli(
        "create-coordinator",
        "--community",
        "riverside",
        "--email",
        email,
        input="correct horse battery\n",
    )
    assert result.exit_code == 0, result.output


def test_create_coordinator_is_audited(cli: Cli, db: Session, community: Community) -> None:
    _add(cli)
    event = db.scalars(select(AuditEvent)).one()
    assert (event.actor, event.action, event.community_id) == ("cli", "added coordinator", 1)
    assert event.detail == {"role": "coordinator", "new_account": True, "email_verified": True}


def test_set_password_replaces_it_and_signs_sessions_out(
    cli: Cli, db: Session, community: Community
) -> None:
    _add(cli)
    epoch = _coordinator(db, "lead@example.org").session_epoch
    result = cli("set-password", "--email", "LEAD@example.org", input="a new long passphrase\n")
    assert result.exit_code == 0, result.output
    assert "signed out" in result.stdout
    coordinator = _coordinator(db, "lead@example.org")
    assert verify_password(coordinator, "a new long passphrase")
    assert not verify_password(coordinator, "correct horse battery")
    assert coordinator.session_epoch == epoch + 1


def test_set_password_can_forget_the_authenticator(
    cli: Cli, db: Session, community: Community
) -> None:
    _add(cli)
    with db.begin():
        coordinator = _coordinator(db, "lead@example.org")
        coordinator.totp_secret = "JBSWY3DPEHPK3PXP"
    result = cli(
        "set-password",
        "--email",
        "lead@example.org",
        "--reset-two-factor",
        input="a new long passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert _coordinator(db, "lead@example.org").totp_secret is None


def test_set_password_errors_are_one_line(cli: Cli, community: Community) -> None:
    _add(cli)
    short = cli("set-password", "--email", "lead@example.org", input="short\n")
    assert "at least 10 characters" in one_line_error(short)
    unknown = cli("set-password", "--email", "nobody@example.org", input="long enough pass\n")
    assert "no coordinator has the email" in one_line_error(unknown)


def test_community_settings_sets_message_retention(
    cli: Cli, db: Session, community: Community
) -> None:
    result = cli("community-settings", "--community", "riverside", "--retention-days", "30")
    assert result.exit_code == 0, result.output
    assert "texts kept 30 days" in result.stdout
    db.expire_all()
    assert db.get_one(Community, community.id).retention_days == 30
    off = cli("community-settings", "--community", "riverside", "--retention-days", "off")
    assert "texts kept forever" in off.stdout
    bad = cli("community-settings", "--community", "riverside", "--retention-days", "-3")
    assert "--retention-days" in one_line_error(bad)
