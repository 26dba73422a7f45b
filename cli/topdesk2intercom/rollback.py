"""``topdesk2intercom rollback``: the target's own rollback command, with the target's settings from the project."""

from __future__ import annotations

import click

from target_intercom.api import rollback_command
from topdesk2intercom.plugins import config_file
from topdesk2intercom.project import Project, pass_project


@click.command(name="rollback", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_project
def rollback(project: Project, args: tuple[str, ...]) -> None:
    """Delete what the migration created (from the ledger): --run RUN_ID | --all [--dry-run] [--list-runs]
    (--help: all options). Same as `meltano invoke target-intercom rollback ...`."""
    if "--help" in args or "-h" in args:
        rollback_command.main(["--help"], prog_name="topdesk2intercom rollback")
        return
    with config_file(project.target) as path:
        rollback_command.main(["--config", path, *args], prog_name="topdesk2intercom rollback", standalone_mode=False)
