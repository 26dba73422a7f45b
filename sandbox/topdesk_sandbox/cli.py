"""`topdesk-sandbox`: generate a dataset, or serve one over TOPdesk's REST API."""

from __future__ import annotations

from pathlib import Path

import click

from sandbox_common.server import serve as run_server


@click.group()
def main() -> None:
    """A local TOPdesk for demos and tests."""


@main.command()
@click.option("--scale", type=click.IntRange(min=1), required=True, help="Number of calls; the rest scales with it.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same bytes.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output directory.")
def generate(scale: int, seed: int, out: Path) -> None:
    """Write a deterministic TOPdesk dataset (JSON Lines per resource, UI CSV exports, manifest.json)."""
    from topdesk_sandbox.generator import generate as write_dataset

    manifest = write_dataset(scale=scale, seed=seed, out=out)
    total = sum(manifest["counts"].values())
    click.echo(f"wrote {total} records in {len(manifest['counts'])} files to {out}")


@main.command()
@click.option("--port", type=int, default=8181, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Dataset directory.")
@click.option("--scale", type=click.IntRange(min=1), help="Generate a dataset in memory instead of --data.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--login", default="api_operator", show_default=True, help="Operator login name for Basic auth.")
@click.option("--password", default="sandbox-app-password", show_default=True, help="Application password.")
@click.option("--hidden-modules", default="", help="Comma-separated modules this operator may not see.")
@click.option("--export-timeout-over", type=int, default=None, help="List requests over N records hang, then fail.")
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option(
    "--capacity",
    type=click.IntRange(min=1),
    default=None,
    help="A server that strains: beyond N requests in progress each one's latency grows (latency x in progress / N).",
)
@click.option(
    "--lost-answer-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of requests handled whose answer is lost: 502/503/504 or a cut body.",
)
@click.option("--fault-seed", type=int, default=None, help="Seed for the fault draws (reproducible faults).")
@click.option("--variant", "variants", multiple=True, help="A tenant variant to play (repeatable; see variants.py).")
@click.option(
    "--strict/--lenient",
    default=True,
    show_default=True,
    help="Refuse (400) requests the TOPdesk descriptions do not document, as TOPdesk does (documented.py).",
)
def serve(
    port: int,
    host: str,
    data: Path | None,
    scale: int | None,
    seed: int,
    login: str,
    password: str,
    hidden_modules: str,
    export_timeout_over: int | None,
    fault_rate: float,
    latency_ms: float,
    capacity: int | None,
    lost_answer_rate: float,
    fault_seed: int | None,
    variants: tuple[str, ...],
    strict: bool,
) -> None:
    """Serve a dataset over TOPdesk's REST API."""
    from topdesk_sandbox.app import SandboxSettings, create_app

    if (data is None) == (scale is None):
        raise click.UsageError("give exactly one of --data DIR or --scale N")
    settings = SandboxSettings(
        data_dir=data,
        scale=scale,
        seed=seed,
        login=login,
        password=password,
        hidden_modules=frozenset(m.strip() for m in hidden_modules.split(",") if m.strip()),
        export_timeout_over=export_timeout_over,
        fault_rate=fault_rate,
        latency_ms=latency_ms,
        capacity=capacity,
        lost_answer_rate=lost_answer_rate,
        fault_seed=fault_seed,
        variants=frozenset(variants),
        strict=strict,
    )
    app = create_app(settings)
    click.echo(f"TOPdesk sandbox on http://{host}:{port}/tas/api (login {login})")
    run_server(app, host=host, port=port)
