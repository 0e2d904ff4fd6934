"""Sending: one area with one gate. Queueing outbound texts (queue, broadcasts), who may be
sent what (eligibility, quiet hours), the send gate (route, sender, pacing bucket, WhatsApp
fallbacks), pacing per sender, dispatch to send jobs and their planning, the hand-over to RQ
(outbox) and delivery status.

Imports models, flows and plumbing; never the web, never ``workers``.
"""

from service.sending.gate import TEMPLATE_KINDS
from service.sending.pacing import TokenBuckets

__all__ = ["TEMPLATE_KINDS", "TokenBuckets"]
