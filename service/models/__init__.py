"""Typed SQLAlchemy models, one module per area. Importing this package registers them all."""

from service.models.accounts import Coordinator, Membership, Role
from service.models.community import Channel, ChannelKind, Community
from service.models.messages import Direction, Message, MessageStatus, OutboxItem
from service.models.volunteers import ConversationSession, Volunteer, VolunteerStatus

__all__ = [
    "Channel",
    "ChannelKind",
    "Community",
    "ConversationSession",
    "Coordinator",
    "Direction",
    "Membership",
    "Message",
    "MessageStatus",
    "OutboxItem",
    "Role",
    "Volunteer",
    "VolunteerStatus",
]
