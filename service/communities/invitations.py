"""Invitations to help run a community: an owner invites an email, the invitee accepts.

The owner's answer is the same whether an account has the email or not (nothing learnt
about other communities' people), and no account is attached without its holder: the
invitee opens the link and accepts signed in as that email, or creates their account there.
Only a SHA-256 of the link's token is stored; a link works once, for ``VALID_FOR``.
Callers commit and audit. Imports models and ``accounts``; never Flask.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.communities.accounts import (
    AccountError,
    check_email,
    check_password,
    find_existing,
    hash_password,
)
from service.models import Community, Coordinator, Invitation, Membership, Role

VALID_FOR = timedelta(days=7)
TOKEN_BYTES = 32


class InvitationError(ValueError):
    """The invitation cannot be used (unknown, used, expired, or for another email)."""


@dataclass(frozen=True)
class Issued:
    invitation: Invitation
    token: str  # shown once to the owner, never stored


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(
    session: Session,
    community: Community,
    inviter: Coordinator,
    email: str,
    role: Role,
    now: datetime,
) -> Issued:
    """A new invitation (an earlier open one for the same email here stops working)."""
    email = check_email(email)
    for earlier in session.scalars(
        select(Invitation).where(
            Invitation.community_id == community.id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
        )
    ):
        session.delete(earlier)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invitation = Invitation(
        community_id=community.id,
        email=email,
        role=role,
        token_hash=_hash(token),
        invited_by_id=inviter.id,
        created_at=now,
        expires_at=now + VALID_FOR,
    )
    session.add(invitation)
    session.flush()
    return Issued(invitation, token)


def find_open(session: Session, token: str, now: datetime) -> Invitation | None:
    """The unused, unexpired invitation with this token, or None."""
    if not token or len(token) > 100:
        return None
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == _hash(token)))
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= now:
        return None
    return invitation


def accept(
    session: Session, invitation: Invitation, coordinator: Coordinator, now: datetime
) -> Membership:
    """``coordinator`` (signed in as the invited email) joins the community in the role."""
    if coordinator.email != invitation.email:
        raise InvitationError("this invitation is for another email address")
    membership = session.scalar(
        select(Membership).where(
            Membership.coordinator_id == coordinator.id,
            Membership.community_id == invitation.community_id,
        )
    )
    if membership is None:
        membership = Membership(
            coordinator_id=coordinator.id,
            community_id=invitation.community_id,
            role=invitation.role,
        )
        session.add(membership)
    invitation.accepted_at = now
    session.flush()
    return membership


def create_account(session: Session, invitation: Invitation, password: str) -> Coordinator:
    """The invitee's new account (no account had the email); its email is not yet verified."""
    if find_existing(session, invitation.email) is not None:
        raise AccountError("an account already has this email: sign in to accept")
    check_password(password)
    coordinator = Coordinator(
        email=invitation.email,
        password_hash=hash_password(password),
        created_by_id=invitation.invited_by_id,
    )
    session.add(coordinator)
    session.flush()
    return coordinator
