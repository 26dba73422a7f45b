"""``topdesk2intercom``: one entry point for the migration steps around ``meltano run`` (see the README's
walkthrough). Subcommands load lazily, so ``--help`` is instant and one broken step never hides the others."""

from __future__ import annotations

import importlib

import click

from topdesk2intercom.project import Project

#: subcommand -> "module:attribute" (a click command or group)
COMMANDS = {
    "audit": "topdesk2intercom.audit:audit",
    "check": "topdesk2intercom.check:check_group",
    "map": "topdesk2intercom.mapping:map_group",
    "provision": "topdesk2intercom.provision:provision",
    "plan": "topdesk2intercom.plan:plan",
    "sample": "topdesk2intercom.sample:sample",
    "verify": "topdesk2intercom.verify:verify",
    "rollback": "topdesk2intercom.rollback:rollback",
    "handoff": "topdesk2intercom.handoff:handoff",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["--help", "-h"]})
@click.option(
    "--environment",
    "-e",
    envvar="MELTANO_ENVIRONMENT",
    metavar="NAME",
    help="Meltano environment whose settings to use (default: the project's default, e.g. sandbox)",
)
@click.option(
    "--tap-config",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="tap-topdesk config as JSON, instead of asking Meltano",
)
@click.option(
    "--target-config",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="target-intercom config as JSON, instead of asking Meltano",
)
@click.pass_context
def main(ctx: click.Context, environment: str | None, tap_config: str | None, target_config: str | None) -> None:
    """TOPdesk -> Intercom migration, step by step: audit, map, provision, plan, sample, (meltano run), verify,
    rollback, handoff. Settings come from the Meltano project (meltano.yml, its environment, .env, TAP_TOPDESK_* /
    TARGET_INTERCOM_* variables), the same ones `meltano run` uses."""
    ctx.obj = Project(environment=environment, tap_config_file=tap_config, target_config_file=target_config)
