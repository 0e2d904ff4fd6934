"""Sending: queueing outbound texts, the send gate (eligibility, quiet hours, WhatsApp window,
route), pacing per sender, dispatch to send jobs, broadcasts and delivery status.

Imports models, flows and plumbing; never the web.
"""
