"""Typed SQLAlchemy models, one module per area. Importing this package registers them all."""

from service.models.accounts import Coordinator, Invitation, Membership, Role
from service.models.audit import AuditEvent
from service.models.callouts import CallOut, CallOutAsk, CallOutStatus
from service.models.community import Channel, ChannelKind, Community, WhatsAppContent
from service.models.coordinator_texts import (
    CommandRequest,
    CoordinatorPhone,
    RequestKind,
    RequestStatus,
)
from service.models.donations import (
    Cycle,
    CycleNeed,
    DonationAsk,
    DonationSchedule,
    Need,
    Pledge,
    PledgeStatus,
    StandingPledge,
)
from service.models.messages import (
    MESSAGES,
    Broadcast,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    OutboxItem,
    Priority,
    is_unsent_farewell,
    is_waiting,
)
from service.models.rosters import (
    Assignment,
    AssignmentStatus,
    Roster,
    RosterKind,
    Shift,
    ShiftStatus,
)
from service.models.volunteers import (
    ConversationSession,
    Suppression,
    Volunteer,
    VolunteerStatus,
)

__all__ = [
    "MESSAGES",
    "Assignment",
    "AssignmentStatus",
    "AuditEvent",
    "Broadcast",
    "CallOut",
    "CallOutAsk",
    "CallOutStatus",
    "Channel",
    "ChannelKind",
    "CommandRequest",
    "Community",
    "ConversationSession",
    "Coordinator",
    "CoordinatorPhone",
    "Cycle",
    "CycleNeed",
    "Direction",
    "DonationAsk",
    "DonationSchedule",
    "Invitation",
    "Membership",
    "Message",
    "MessageKind",
    "MessageStatus",
    "Need",
    "OutboxItem",
    "Pledge",
    "PledgeStatus",
    "Priority",
    "RequestKind",
    "RequestStatus",
    "Role",
    "Roster",
    "RosterKind",
    "Shift",
    "ShiftStatus",
    "StandingPledge",
    "Suppression",
    "Volunteer",
    "VolunteerStatus",
    "WhatsAppContent",
    "is_unsent_farewell",
    "is_waiting",
]
