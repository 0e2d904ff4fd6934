"""Volunteers: phone numbers, the console's volunteer admin, CSV import and export, and privacy
(FORGET, suppression, retention).

Imports models, flows, rosters and plumbing.
"""
