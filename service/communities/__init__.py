"""Communities: creating them and their channels, their settings, coordinator accounts, the audit
log, the demo and the whole-community export.

Imports models, flows and plumbing; never Flask views.
"""
