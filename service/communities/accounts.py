"""Coordinator accounts: creation, password (scrypt, via Werkzeug) and two-factor resets."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from service import clock
from service.models import Community, Coordinator, Membership, Role

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """Bad input for an account; the message says why."""


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def verify_password(coordinator: Coordinator, password: str) -> bool:
    return check_password_hash(coordinator.password_hash, password)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")


def find_coordinator(session: Session, email: str) -> Coordinator:
    coordinator = session.scalar(
        select(Coordinator).where(Coordinator.email == email.strip().lower())
    )
    if coordinator is None:
        raise AccountError(f"no coordinator has the email {email.strip()!r}")
    return coordinator


def find_existing(session: Session, email: str) -> Coordinator | None:
    return session.scalar(select(Coordinator).where(Coordinator.email == email.strip().lower()))


def set_password(coordinator: Coordinator, password: str) -> None:
    """Set a new password and sign out every console session of this account."""
    check_password(password)
    coordinator.password_hash = hash_password(password)
    coordinator.session_epoch += 1


def reset_two_factor(coordinator: Coordinator) -> None:
    """Forget the authenticator (a lost phone); the next sign-in may enrol a new one."""
    coordinator.totp_secret = None
    coordinator.totp_enabled_at = None
    coordinator.session_epoch += 1


def check_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        raise AccountError(f"{email!r} is not an email address")
    return email


def create_coordinator(
    session: Session,
    *,
    community: Community,
    email: str,
    password: str,
    role: Role,
    verified: bool = False,
) -> Coordinator:
    """Add a coordinator to ``community`` (creating the account, or updating its password).

    ``verified``: the operator attests the email (``handsup create-coordinator``); only such
    an account may approve another coordinator's broadcast under the two-person rule.
    """
    email = check_email(email)
    check_password(password)
    coordinator = session.scalar(select(Coordinator).where(Coordinator.email == email))
    if coordinator is None:
        coordinator = Coordinator(email=email, password_hash=hash_password(password))
        session.add(coordinator)
        session.flush()
    else:
        set_password(coordinator, password)
    if verified and coordinator.email_verified_at is None:
        coordinator.email_verified_at = clock.now()
    membership = session.scalar(
        select(Membership).where(
            Membership.coordinator_id == coordinator.id,
            Membership.community_id == community.id,
        )
    )
    if membership is None:
        session.add(Membership(coordinator_id=coordinator.id, community_id=community.id, role=role))
    else:
        membership.role = role
    return coordinator
