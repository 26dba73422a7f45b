"""Test helpers for map-topdesk-intercom: real tap output (once per session) and in-process mapper runs."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import sys
import textwrap
import typing as t
from pathlib import Path

from map_topdesk_intercom.mapper import TopdeskIntercomMapper

ROOT = Path(__file__).resolve().parents[2]
MAPPED_STREAMS = ["persons", "branches", "incidents", "incident_progress_trail", "operators"]


@functools.lru_cache(maxsize=2)
def tap_messages(scale: int = 300) -> tuple[dict, ...]:
    """The real tap against an in-thread sandbox (build_dataset(scale, seed=7)): its Singer messages."""
    sys.path.insert(0, str(ROOT / "tap-topdesk" / "tests"))
    import tap_topdesk_testkit as tap_kit

    url = tap_kit.shared_sandbox(scale=scale, seed=7)
    run = tap_kit.sync(tap_kit.config(url), streams=MAPPED_STREAMS)
    return tuple(run.messages)


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
