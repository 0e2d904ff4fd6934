"""Sending: one area with one gate. Queueing outbound texts (queue, broadcasts), who may be
sent what (eligibility, quiet hours), the send gate (route, sender, pacing bucket, WhatsApp
fallbacks), pacing per sender, dispatch to send jobs and their planning, the hand-over to RQ
(outbox) and delivery status.

Imports models, flows and plumbing; never the web, never ``workers``.
"""
