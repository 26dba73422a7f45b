"""The ``target-intercom`` executable: the singer-sdk target, plus the ``rollback`` subcommand.

``target-intercom rollback ...`` runs :data:`rollback_command`; anything else (``--about``, ``--config``,
``--input``, stdin...) goes unchanged to ``TargetIntercom.cli``, so Meltano and every Singer runner see a normal
target.
"""

from __future__ import annotations

import json
import logging
import sys
import typing as t
from pathlib import Path

import click
from jsonschema import Draft7Validator

from target_intercom.target import TargetIntercom

SUBCOMMANDS = ("rollback",)


def load_config(sources: t.Sequence[str]) -> dict[str, t.Any]:
    """Config the way the target reads it: ``--config FILE`` (repeatable, later files win) and ``--config ENV``
    for ``TARGET_INTERCOM_*`` environment variables (singer-sdk's own parser), validated against the target's
    ``config_jsonschema``. Errors name the setting, never its value."""
    config: dict[str, t.Any] = {}
    parse_env = False
    for source in sources:
        if source == "ENV":
            parse_env = True
            continue
        try:
            config |= json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.BadParameter(
                f"cannot read config file {source}: {type(exc).__name__}", param_hint="--config"
            ) from None
    if parse_env:
        config |= TargetIntercom._env_var_config  # singer-sdk's parser, as the target
    errors = sorted(Draft7Validator(TargetIntercom.config_jsonschema).iter_errors(config), key=lambda e: e.path)
    if errors:
        where = ", ".join(".".join(str(p) for p in e.path) or e.validator for e in errors)
        missing = [e.message.split("'")[1] for e in errors if e.validator == "required" and "'" in e.message]
        raise click.UsageError(
            f"invalid config: {', '.join(missing) or where} "
            f"({'missing' if missing else 'invalid value'}; see target-intercom --about)"
        )
    return config


@click.command(name="rollback", context_settings={"help_option_names": ["--help", "-h"]})
@click.option(
    "--config",
    "config_sources",
    multiple=True,
    metavar="FILE|ENV",
    help="target config file (repeatable, later files win), or ENV for TARGET_INTERCOM_* variables",
)
@click.option("--run", "run_id", metavar="RUN_ID", help="roll back this run (see the ledger / the report folders)")
@click.option("--all", "all_runs", is_flag=True, help="roll back every run: everything the migration created")
@click.option("--dry-run", is_flag=True, help="print what would be restored and deleted; change nothing")
@click.option(
    "--force",
    is_flag=True,
    help="roll back --run RUN_ID even though later runs are not rolled back, and restore records changed since",
)
@click.option("--list-runs", is_flag=True, help="list the ledger's runs (newest first) and exit")
@click.option("--progress/--no-progress", default=None, help="progress bar (default: when stderr is a terminal)")
def rollback_command(
    config_sources: tuple[str, ...],
    run_id: str | None,
    all_runs: bool,
    dry_run: bool,
    force: bool,
    list_runs: bool,
    progress: bool | None,
) -> None:
    """Undo a run (--run RUN_ID) or every run (--all) in Intercom, as recorded in the ledger: first put back the
    values it overwrote in records that existed before it (adopted contacts, matched companies, an earlier run's
    tickets), unless someone or a later run changed them since (listed); then delete what it created, newest first,
    children before parents. What Intercom cannot undo is listed with the reason. Resumable: run it again after an
    interruption and it continues. A report (Markdown, JSON, HTML) goes to report_dir/<rollback run id>/."""
    from target_intercom import rollback as rb  # the target's import cost is paid once either way

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    config = load_config(config_sources)
    with rb.open_ledger(config) as ledger:
        if list_runs:
            for run in ledger.runs():
                info = run.get("info") or {}
                what = f"rollback of {info.get('of')}" if info.get("command") == "rollback" else "load"
                click.echo(f"{run['run_id']}  {run['status']:<12} {run['started_at']}  {what}")
            return
        if bool(run_id) == bool(all_runs):
            raise click.UsageError("give exactly one of --run RUN_ID or --all")
        try:
            summary = rb.rollback_from_config(
                config, ledger, run_id=run_id, dry_run=dry_run, progress=progress, force=force
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(rb.console_summary(summary))
    if summary["totals"]["failed"]:
        sys.exit(1)


def main(argv: t.Sequence[str] | None = None) -> t.Any:
    """Entry point of the ``target-intercom`` executable."""
    args = list(sys.argv[1:] if argv is None else argv)
    # `meltano invoke target-intercom rollback ...` puts its own `--config FILE` before the subcommand
    position = next((i for i, arg in enumerate(args) if arg in SUBCOMMANDS and args[i - 1 : i] != ["--config"]), None)
    if position is not None:
        return rollback_command.main(args=args[:position] + args[position + 1 :], prog_name="target-intercom rollback")
    return TargetIntercom.cli.main(args=args, prog_name="target-intercom")


if __name__ == "__main__":
    main()
