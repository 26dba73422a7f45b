"""Test helpers for map-topdesk-intercom: real tap output (once per session) and in-process mapper runs."""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import json
import re
import shutil
import tempfile
import textwrap
import typing as t
from pathlib import Path

from map_topdesk_intercom.engine import Engine
from map_topdesk_intercom.mapfile import DEFAULT_MAP, load_map
from map_topdesk_intercom.mapper import TopdeskIntercomMapper

#: TOPdesk streams the default map leaves alone (they live on as contact attributes or nowhere).
UNMAPPED_STREAMS = {"departments", "locations", "budget_holders", "suppliers"}


def exports_dir(scale: int) -> Path:
    """The dataset's UI CSV exports (problems, known errors, events/actions, activity templates), as files."""
    from topdesk_sandbox.generator import build_dataset

    folder = Path(tempfile.mkdtemp(prefix=f"transform-exports-{scale}-"))
    atexit.register(shutil.rmtree, folder, True)
    for name, text in build_dataset(scale=scale, seed=7).exports.items():
        with (folder / name).open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return folder


@functools.lru_cache(maxsize=2)
def tap_messages(scale: int = 300) -> tuple[dict, ...]:
    """The real tap against an in-thread sandbox (build_dataset(scale, seed=7)), every stream, with the CSV exports
    and attachment downloads (two attachments exceed the 10 MB limit): its Singer messages."""
    import topdesk2intercom_testing.tap as tap_kit

    url = tap_kit.shared_sandbox(scale=scale, seed=7)
    config = tap_kit.config(url, exports_dir=str(exports_dir(scale)), download_attachments=True)
    return tuple(tap_kit.sync(config).messages)


def tap_records(stream: str, scale: int = 300) -> list[dict]:
    return [m["record"] for m in tap_messages(scale) if m["type"] == "RECORD" and m["stream"] == stream]


def run_mapper(messages: t.Iterable[dict], **config: t.Any) -> list[dict]:
    """Feed Singer messages to the mapper in process; returns the messages it wrote."""
    mapper = TopdeskIntercomMapper(config=config)
    text = "".join(json.dumps(m) + "\n" for m in messages)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        mapper.listen(io.StringIO(text))
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def map_with_strategies(folder: Path, **strategies: str) -> Path:
    """The default map with other strategy values (a line edit of its `strategies:` block)."""
    text = DEFAULT_MAP.read_text()
    for name, value in strategies.items():
        text, count = re.subn(rf"^  {name}: \S+", f"  {name}: {value}", text, count=1, flags=re.MULTILINE)
        assert count == 1, name
    path = folder / f"map-{'-'.join(f'{k}.{v}' for k, v in sorted(strategies.items()))}.yaml"
    path.write_text(text)
    return path


#: every strategy set to its non-default value.
OTHER_STRATEGIES = {
    "calls": "conversations",
    "changes": "attributes",
    "known_errors": "article",
    "assets": "companies",
    "reservations": "notes",
}


def write_map(folder: Path, body: str, name: str = "map.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip("\n"))
    return path


#: a small valid map used as the base of the validator tests (line numbers in the tests refer to it).
MINIMAL_MAP = """
version: 1
confirmed: true
strategies:
  calls: tickets
ticket_types:
  - name: TOPdesk Call
attributes:
  - {name: topdesk_department, model: contact, data_type: string}
  - {name: Call number, model: ticket_type, ticket_type: TOPdesk Call, data_type: string}
streams:
  persons:
    - output: contacts
      source_key: "person:{id}"
      fields:
        external_id: {from: id, required: true}
        email: {from: email, lowercase: true}
        signed_up_at: {from: creationDate, unix: true}
        custom_attributes.topdesk_department: {from: department.name}
  incidents:
    - output: tickets
      source_key: "call:{id}"
      fields:
        ticket_type: {value: TOPdesk Call}
        refs.contact: {template: "person:{caller.id}"}
        created_at: {from: callDate, unix: true, required: true}
        ticket_attributes.Call number: {from: number, required: true}
"""


@functools.lru_cache(maxsize=4)
def engine_for(strategies: tuple[tuple[str, str], ...] = ()) -> Engine:
    """An engine on the default map with these strategy values (cached; `tuple(sorted(d.items()))`)."""
    if not strategies:
        return Engine(load_map())
    folder = Path(tempfile.mkdtemp(prefix="transform-map-"))
    atexit.register(shutil.rmtree, folder, True)
    return Engine(load_map(map_with_strategies(folder, **dict(strategies))))


def mapped(engine: Engine, stream: str, scale: int = 300) -> dict[str, list[dict]]:
    """Output stream -> records for every tap record of ``stream`` (all ``assets_*`` streams for the pattern)."""
    result: dict[str, list[dict]] = {}
    for message in tap_messages(scale):
        if message["type"] != "RECORD" or engine.spec.map_key(message["stream"]) != stream:
            continue
        for out_stream, out in engine.apply(message["stream"], message["record"]):
            result.setdefault(out_stream, []).append(out)
    return result
