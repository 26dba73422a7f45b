"""Deterministic TOPdesk dataset generator (`topdesk-sandbox generate`).

`build_dataset(scale, seed)` builds everything in memory (the server's `serve --scale` uses it without touching
disk); `generate(scale, seed, out)` writes it in the format of `sandbox/README.md`. Same scale and seed, same bytes.
Records are read-only after generation: nested objects (branches, references, empty optional fields) are shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from . import assets, calls, changes, exports, knowledge, operations, people, reference, reservations
from .common import ANCHOR, Context, Rng, td
from .plan import Plan

__all__ = ["Dataset", "build_dataset", "generate"]

#: Build order: each module only reads what earlier ones left on the context.
_STEPS = (people, reference, assets, calls, changes, operations, knowledge, reservations, exports)


@dataclass
class Dataset:
    """One generated dataset: JSON Lines records per file stem, the manifest, and the UI export files' text."""

    records: dict[str, list[dict[str, Any]]]
    manifest: dict[str, Any]
    exports: dict[str, str] = field(default_factory=dict)


def build_dataset(scale: int, seed: int) -> Dataset:
    if scale < 1:
        raise ValueError("scale must be >= 1")
    ctx = Context(Rng(seed), Plan(scale))
    for step in _STEPS:
        step.build(ctx)
    records = {k: ctx.records[k] for k in sorted(ctx.records)}
    manifest = {
        "generator": "topdesk-sandbox",
        "formatVersion": 1,
        "scale": scale,
        "seed": seed,
        "anchor": td(ANCHOR),
        "counts": {k: len(v) for k, v in records.items()},
        "exports": dict(sorted(ctx.export_counts.items())),
        "planted": {k: ctx.planted[k] for k in sorted(ctx.planted)},
    }
    return Dataset(records=records, manifest=manifest, exports=dict(sorted(ctx.exports.items())))


def write_dataset(dataset: Dataset, out: Path) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dumps = orjson.dumps
    for stem, recs in dataset.records.items():
        with (out / f"{stem}.jsonl").open("wb") as f:
            f.writelines(b"".join(dumps(r) + b"\n" for r in recs[i : i + 5000]) for i in range(0, len(recs), 5000))
    (out / "exports").mkdir(exist_ok=True)
    for name, text in dataset.exports.items():
        # newline="" keeps the CSVs' CRLF exactly as generated.
        (out / "exports" / name).write_text(text, encoding="utf-8", newline="")
    (out / "manifest.json").write_bytes(orjson.dumps(dataset.manifest, option=orjson.OPT_INDENT_2) + b"\n")


def generate(scale: int, seed: int, out: Path) -> dict[str, Any]:
    """Build the dataset and write it to `out`; returns the manifest (with `counts: {file_stem: n}`)."""
    dataset = build_dataset(scale, seed)
    write_dataset(dataset, Path(out))
    return dataset.manifest
