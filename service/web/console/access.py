"""Who is signed in, in which community, with which role; and what they may see.

Every console view runs with ``g.console`` (a ``ConsoleContext``) loaded by the blueprint's
``before_request``. Views fetch objects with ``scoped(...)``, which answers 404 for anything
outside the current community, and declare the role they need with ``@requires(...)``.
Imports models and Flask only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import (
    Assignment,
    Community,
    Coordinator,
    Cycle,
    CycleNeed,
    Membership,
    Pledge,
    Role,
    Shift,
)
from service.volunteers.phones import mask

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M")


@dataclass(frozen=True)
class ConsoleContext:
    coordinator: Coordinator
    community: Community
    role: Role
    memberships: tuple[tuple[Membership, Community], ...]  # for the community switcher

    @property
    def can_edit(self) -> bool:
        return self.role.allows(Role.COORDINATOR)

    @property
    def is_owner(self) -> bool:
        return self.role.allows(Role.OWNER)

    @property
    def numbers_visible(self) -> bool:
        """Full numbers on pages: never for viewers, never in a community that protects them."""
        return self.can_edit and not self.community.protect_numbers

    @property
    def may_reveal_numbers(self) -> bool:
        """The explicit, audited "show number" action (coordinators and owners only)."""
        return self.can_edit

    def phone(self, e164: str | None) -> str:
        if not e164:
            return ""
        return e164 if self.numbers_visible else mask(e164)


def current() -> ConsoleContext:
    context: ConsoleContext | None = g.get("console")
    if context is None:  # a view outside the before_request hook: a programming error
        abort(401)
    return context


def requires(role: Role) -> Callable[[F], F]:
    """The view needs at least ``role`` in the current community (403 otherwise)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current().role.allows(role):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorate


def scoped(session: Session, model: type[M], object_id: int) -> M:
    """The object with ``object_id`` in the current community, or 404.

    Models without a ``community_id`` column (assignments, cycle needs, pledges) are scoped
    through their parent; any other model must have one.
    """
    community_id = current().community.id
    if model is Assignment:
        found: Any = session.scalar(
            select(Assignment)
            .join(Shift, Shift.id == Assignment.shift_id)
            .where(Assignment.id == object_id, Shift.community_id == community_id)
        )
    elif model is CycleNeed:
        found = session.scalar(
            select(CycleNeed)
            .join(Cycle, Cycle.id == CycleNeed.cycle_id)
            .where(CycleNeed.id == object_id, Cycle.community_id == community_id)
        )
    elif model is Pledge:
        found = session.scalar(
            select(Pledge)
            .join(CycleNeed, CycleNeed.id == Pledge.cycle_need_id)
            .join(Cycle, Cycle.id == CycleNeed.cycle_id)
            .where(Pledge.id == object_id, Cycle.community_id == community_id)
        )
    else:
        if not hasattr(model, "community_id"):
            raise TypeError(f"scoped() does not know how {model.__name__} belongs to a community")
        found = session.get(model, object_id)
        if found is not None and found.community_id != community_id:
            found = None
    if found is None:
        abort(404)
    result: M = found
    return result


def load_context(
    session: Session, coordinator_id: int, epoch: int, community_id: int | None
) -> ConsoleContext | None:
    """The context for a signed-in coordinator, or None when the session is no longer valid."""
    coordinator = session.get(Coordinator, coordinator_id)
    if coordinator is None or coordinator.session_epoch != epoch:
        return None
    rows = session.execute(
        select(Membership, Community)
        .join(Community, Community.id == Membership.community_id)
        .where(Membership.coordinator_id == coordinator.id)
        .order_by(Community.name)
    ).all()
    memberships = tuple((m, c) for m, c in rows)
    if not memberships:
        return None
    chosen = next((mc for mc in memberships if mc[1].id == community_id), memberships[0])
    return ConsoleContext(
        coordinator=coordinator,
        community=chosen[1],
        role=chosen[0].role,
        memberships=memberships,
    )
