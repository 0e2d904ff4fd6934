"""Coordinator accounts: creation with a hashed password (scrypt, via Werkzeug)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from service.models import Community, Coordinator, Membership, Role

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """Bad input for an account; the message says why."""


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def verify_password(coordinator: Coordinator, password: str) -> bool:
    return check_password_hash(coordinator.password_hash, password)


def create_coordinator(
    session: Session, *, community: Community, email: str, password: str, role: Role
) -> Coordinator:
    """Add a coordinator to ``community`` (creating the account, or updating its password)."""
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        raise AccountError(f"{email!r} is not an email address")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    coordinator = session.scalar(select(Coordinator).where(Coordinator.email == email))
    if coordinator is None:
        coordinator = Coordinator(email=email, password_hash=hash_password(password))
        session.add(coordinator)
        session.flush()
    else:
        coordinator.password_hash = hash_password(password)
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
