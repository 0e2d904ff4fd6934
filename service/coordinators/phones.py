"""A coordinator's phone per community: registered in the console (verified by a code texted
to it) or by the operator's CLI (verified at once), and found for an inbound text.

Functions run in the caller's transaction and never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from flows import catalog
from service.coordinators import codes
from service.models import (
    Channel,
    Community,
    Coordinator,
    CoordinatorPhone,
    Membership,
    Role,
)
from service.volunteers.phones import InvalidPhoneNumber, to_e164

VERIFY_LIFETIME = timedelta(minutes=10)


class PhoneError(ValueError):
    """A phone that cannot be registered or verified; the message says why."""


def parse(raw: str, community: Community) -> str:
    try:
        return to_e164(raw, community.country)
    except InvalidPhoneNumber as exc:
        raise PhoneError(str(exc)) from None


def _check_free(
    session: Session, coordinator: Coordinator, community: Community, phone: str
) -> None:
    if session.scalar(select(Channel.id).where(Channel.address == phone).limit(1)) is not None:
        raise PhoneError("that is a HandsUp service number, not a phone")
    taken = session.scalar(
        select(CoordinatorPhone).where(
            CoordinatorPhone.community_id == community.id,
            CoordinatorPhone.phone == phone,
            CoordinatorPhone.coordinator_id != coordinator.id,
        )
    )
    if taken is not None:
        raise PhoneError("another coordinator of this community has registered that number")


def registered(
    session: Session, coordinator: Coordinator, community: Community
) -> CoordinatorPhone | None:
    return session.scalar(
        select(CoordinatorPhone).where(
            CoordinatorPhone.coordinator_id == coordinator.id,
            CoordinatorPhone.community_id == community.id,
        )
    )


def _row(
    session: Session, coordinator: Coordinator, community: Community, phone: str, now: datetime
) -> CoordinatorPhone:
    row = registered(session, coordinator, community)
    if row is None:
        row = CoordinatorPhone(
            coordinator_id=coordinator.id, community_id=community.id, phone=phone, created_at=now
        )
        session.add(row)
    elif row.phone != phone:
        row.phone = phone
        row.verified_at = None
    return row


def set_verified(
    session: Session, coordinator: Coordinator, community: Community, raw: str, now: datetime
) -> CoordinatorPhone:
    """The operator's registration (``handsup create-coordinator --phone``): verified at once."""
    phone = parse(raw, community)
    _check_free(session, coordinator, community, phone)
    row = _row(session, coordinator, community, phone, now)
    row.verified_at = now
    row.code_hash = row.code_expires_at = None
    session.flush()
    return row


def start_verification(
    session: Session, coordinator: Coordinator, community: Community, raw: str, now: datetime
) -> CoordinatorPhone:
    """Register ``raw`` unverified and text it a code (replacing an earlier number)."""
    if not _may_command(session, coordinator, community):
        raise PhoneError("only coordinators and owners may run the community by text")
    phone = parse(raw, community)
    _check_free(session, coordinator, community, phone)
    row = _row(session, coordinator, community, phone, now)
    row.verified_at = None
    session.flush()
    code = codes.new_code()
    row.code_hash = codes.code_hash(f"phone:{row.id}", code)
    row.code_expires_at = now + VERIFY_LIFETIME
    body = catalog.render(
        community.default_language, "coord.verify_code", {"community": community.name, "code": code}
    )
    codes.send_to_phone(session, community, phone, body, f"verify:{row.id}:{now.timestamp()}", now)
    return row


def verify(
    session: Session, coordinator: Coordinator, community: Community, code: str, now: datetime
) -> CoordinatorPhone:
    row = registered(session, coordinator, community)
    if row is None or row.code_hash is None or row.code_expires_at is None:
        raise PhoneError("register a number first")
    if row.code_expires_at <= now:
        raise PhoneError("that code has expired: register the number again for a new one")
    if not codes.matches(f"phone:{row.id}", code, row.code_hash):
        raise PhoneError("that is not the code we texted")
    row.verified_at = now
    row.code_hash = row.code_expires_at = None
    return row


def remove(session: Session, coordinator: Coordinator, community: Community) -> bool:
    row = registered(session, coordinator, community)
    if row is None:
        return False
    session.delete(row)
    return True


def _may_command(session: Session, coordinator: Coordinator, community: Community) -> bool:
    role = membership_role(session, coordinator.id, community.id)
    return role is not None and role.allows(Role.COORDINATOR)


def membership_role(session: Session, coordinator_id: int, community_id: int) -> Role | None:
    return session.scalar(
        select(Membership.role).where(
            Membership.coordinator_id == coordinator_id, Membership.community_id == community_id
        )
    )


def commander(
    session: Session, community: Community, phone: str
) -> tuple[CoordinatorPhone, Coordinator, Role] | None:
    """The verified coordinator phone ``phone`` of ``community`` whose account still
    coordinates it (a viewer, or someone no longer a member, runs nothing by text)."""
    found = session.execute(
        select(CoordinatorPhone, Coordinator, Membership.role)
        .join(Coordinator, Coordinator.id == CoordinatorPhone.coordinator_id)
        .join(
            Membership,
            (Membership.coordinator_id == Coordinator.id)
            & (Membership.community_id == CoordinatorPhone.community_id),
        )
        .where(
            CoordinatorPhone.community_id == community.id,
            CoordinatorPhone.phone == phone,
            CoordinatorPhone.verified_at.is_not(None),
        )
    ).first()
    if found is None or not found[2].allows(Role.COORDINATOR):
        return None
    return found[0], found[1], found[2]
