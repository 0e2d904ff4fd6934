"""Pure conversation logic: state machines, keyword parsing and message catalogs.

Nothing in this package does I/O. It imports nothing from ``service``, ``workers``, Flask,
Twilio, SQLAlchemy or Redis, so every flow is testable with plain values.
"""
