"""Volunteer list commands: import and export volunteers as CSV.

May import ``service`` (never ``workers``) and click.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import click

from service import clock
from service.cli.common import database
from service.communities.registry import find_community
from service.volunteers.import_export import export_volunteers, import_volunteers


@click.command("import-volunteers")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
def import_volunteers_cmd(slug: str, file: TextIO) -> None:
    """Import name,phone[,language,skills] rows; the importer attests consent."""
    with database() as session:
        community = find_community(session, slug)
        report = import_volunteers(
            session, community, file, source=f"import:{Path(file.name).name}", now=clock.now()
        )
    click.echo(
        f"imported {report.created} new, updated {report.updated}, rejected {len(report.errors)}"
    )
    for error in report.errors:
        click.echo(str(error), err=True)
    if report.errors:
        sys.exit(1)


@click.command("export-volunteers")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option(
    "--out",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Output file (default: stdout).",
)
def export_volunteers_cmd(slug: str, out: TextIO) -> None:
    """Export volunteers as CSV, with status (active, paused, opted_out)."""
    with database() as session:
        export_volunteers(session, find_community(session, slug), out)


COMMANDS: tuple[click.Command, ...] = (
    import_volunteers_cmd,
    export_volunteers_cmd,
)
