"""Rosters: shifts (places, waitlists, attendance), donation cycles (needs, pledges) and urgent
call-outs, the writes and their rules.

Imports models, flows and sending's public functions.
"""
