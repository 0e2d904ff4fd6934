"""The ``handsup`` command line: the ``main`` group and the registration of each area's commands.

Every command has ``--help`` and exits non-zero with a one-line reason on bad input.
May import ``service`` and click, never ``workers``.
"""

from __future__ import annotations

import click

from service.cli import community, db, donations, processes, sending, shifts, volunteers


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """HandsUp: volunteer rosters over SMS and WhatsApp."""


AREAS = (db, community, volunteers, shifts, donations, sending, processes)


def register(group: click.Group) -> None:
    """Add every area's commands to the group (click lists them sorted by name)."""
    for area in AREAS:
        for command in area.COMMANDS:
            group.add_command(command)


register(main)
