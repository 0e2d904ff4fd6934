"""Call-out waves: the next wave of asks, unless the call-out has filled."""

from __future__ import annotations

from service import clock
from service.db import unit_of_work
from service.models import CallOut
from service.rosters.callouts import send_wave
from workers.runtime import runtime


def next_wave(callout_id: int) -> str:
    with unit_of_work(runtime().session_factory) as session:
        callout = session.get(CallOut, callout_id)
        if callout is None:
            return "skipped: no call-out"
        asked = send_wave(session, callout, clock.now())
    return f"asked {asked}"
