"""``target-intercom rollback`` against a real in-process Intercom sandbox: a run rolled back leaves the sandbox as it
was before that run (except what Intercom cannot restore, which the rollback lists), ``--all`` leaves the contacts
that existed before the migration, a re-run recreates everything, a dry run changes nothing, an interrupted
rollback continues where it stopped, and the executable still is a normal Singer target."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from test_target_load import tap_messages

from target_intercom import cli
from target_intercom import rollback as rb
from target_intercom.client import IntercomClient
from target_intercom.ledger import Ledger
from target_intercom.target import TargetIntercom
from topdesk2intercom_testing.target import RunningSandbox, intercom_sandbox, map_custom_objects

BIN = Path(sys.executable).parent / "target-intercom"
#: fields Intercom changes by itself (or the sandbox on every touch); not content
VOLATILE = {"updated_at", "statistics"}
CONTENT = ("contacts", "companies", "notes", "tickets", "conversations", "articles", "collections")


# ---------------------------------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def sandbox() -> t.Iterator[RunningSandbox]:
    with intercom_sandbox(custom_objects=map_custom_objects()) as sb:
        yield sb


def config(sb: RunningSandbox, tmp_path: Path) -> dict:
    return {
        "access_token": sb.token,
        "api_url": sb.url,
        "ledger_url": Ledger.url_for_path(tmp_path / "ledger.db"),
        "report_dir": str(tmp_path / "reports"),
        "fallback_admin_email": "fallback@sandbox.example",
        "concurrency": 8,
    }


def load(messages: t.Iterable[dict], cfg: dict) -> str:
    """One run of the target in process; returns its run id."""
    target = TargetIntercom(config=dict(cfg))
    with contextlib.redirect_stdout(io.StringIO()):
        target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
    return target.run_id


def rollback(cfg: dict, run_id: str | None, **kwargs: t.Any) -> dict:
    ledger = Ledger(cfg["ledger_url"])
    client = IntercomClient(cfg["api_url"], cfg["access_token"], concurrency=8)
    try:
        return rb.rollback(
            ledger, client, run_id=run_id, settings=cfg, report_dir=Path(cfg["report_dir"]), progress=False, **kwargs
        )
    finally:
        client.close()
        ledger.close()


def snapshot(sb: RunningSandbox) -> dict[str, dict[str, dict]]:
    """The sandbox's content collections, id -> record without volatile fields (a deep copy); an empty list equals
    an absent one (the sandbox adds ``company_ids: []`` to a contact once a company was attached and detached)."""
    with sb.workspace.lock:
        data = copy.deepcopy(sb.workspace.export())
    return {
        name: {
            str(r["id"]): {k: v for k, v in r.items() if k not in VOLATILE and v not in (None, [], {})}
            for r in data[name]
        }
        for name in CONTENT
    }


def differences(before: dict, after: dict) -> set[tuple[str, str]]:
    """(collection, id) of every record added, removed or changed."""
    out = set()
    for name in CONTENT:
        for rid in set(before[name]) | set(after[name]):
            if before[name].get(rid) != after[name].get(rid):
                out.add((name, rid))
    return out


def ledger_counts(cfg: dict) -> dict:
    ledger = Ledger(cfg["ledger_url"])
    try:
        return ledger.counts()
    finally:
        ledger.close()


def records(messages: t.Iterable[dict], stream: str) -> list[dict]:
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


class Split(t.NamedTuple):
    first: list[dict]  # run 1: everything except the held-back records
    delta: list[dict]  # run 2: the held-back records (new) and a few changed ones
    changed_persons: list[str]
    changed_incident: str
    new_part_incident: str
    adopted: dict  # a person whose contact exists in Intercom before the migration (same external id)
    merged: dict  # a person whose e-mail belongs to a pre-existing contact without external id
    changed_branch: str


def split() -> Split:
    messages = list(tap_messages(60))
    persons, incidents = records(messages, "persons"), records(messages, "incidents")
    branches = records(messages, "branches")
    trail = records(messages, "incident_progress_trail")
    callers = {(i.get("caller") or {}).get("id") for i in incidents}
    quiet = [p for p in persons if p["id"] not in callers and p.get("email")]
    with_caller = [i for i in incidents if (i.get("caller") or {}).get("id")]
    new_incidents = {i["id"] for i in with_caller[-3:]}
    new_persons = {p["id"] for p in quiet[:2]}
    adopted, merged = quiet[2], quiet[3]
    changed_persons = [quiet[4]["id"], quiet[5]["id"]]
    old = [i for i in with_caller if i["id"] not in new_incidents]
    new_part_incident = old[1]["id"]
    changed_incident = next(i["id"] for i in old if not i.get("closed") and i["id"] != new_part_incident)

    def held_back(m: dict) -> bool:
        if m["type"] != "RECORD":
            return m["type"] == "STATE"
        r = m["record"]
        return (
            (m["stream"] == "incidents" and r["id"] in new_incidents)
            or (m["stream"] == "incident_progress_trail" and r["incident_id"] in new_incidents)
            or (m["stream"] == "persons" and r["id"] in new_persons)
        )

    first = [m for m in messages if not held_back(m) or m["type"] == "STATE"]
    schemas = [m for m in messages if m["type"] == "SCHEMA"]
    delta = schemas + [m for m in messages if m["type"] == "RECORD" and held_back(m)]
    for p in persons:
        if p["id"] in changed_persons:
            delta.append(
                {
                    "type": "RECORD",
                    "stream": "persons",
                    "record": {
                        **p,
                        "surName": p["surName"] + "-Changed",
                        "dynamicName": p["dynamicName"] + "-Changed",
                        "modificationDate": "2026-11-01T10:00:00.000+00:00",
                    },
                }
            )
    for i in incidents:
        if i["id"] == changed_incident:
            delta.append(
                {
                    "type": "RECORD",
                    "stream": "incidents",
                    "record": {  # a new title, and closed
                        **i,
                        "briefDescription": "Changed after the first load",
                        "closed": True,
                        "processingStatus": {**(i.get("processingStatus") or {}), "name": "Closed"},
                        "modificationDate": "2026-11-01T10:00:00.000+00:00",
                    },
                }
            )
    branch = branches[0]
    delta.append(
        {
            "type": "RECORD",
            "stream": "branches",
            "record": {
                **branch,
                "name": branch["name"] + " (renamed)",
                "phone": "+31 20 555 0199",
                "modificationDate": "2026-11-01T10:00:00.000+00:00",
            },
        }
    )
    entry = next(e for e in trail if e["incident_id"] == new_part_incident)
    delta.append(
        {
            "type": "RECORD",
            "stream": "incident_progress_trail",
            "record": {
                **entry,
                "id": "00000000-0000-4000-8000-00000000beef",
                "memoText": "<p>A later entry</p>",
                "plainText": "A later entry",
                "entryDate": "2026-11-01T10:00:00.000+00:00",
                "creationDate": "2026-11-01T10:00:00.000+00:00",
            },
        }
    )
    return Split(first, delta, changed_persons, changed_incident, new_part_incident, adopted, merged, branch["id"])


def preexisting(sb: RunningSandbox, data: Split) -> dict[str, str]:
    """Contacts that are in Intercom before the migration: one unrelated, one with a person's external id (the
    target adopts it), one with a person's e-mail only (the person is merged into it)."""
    client = sb.client()
    try:
        made = {
            "unrelated": client.request(
                "POST", "/contacts", json={"role": "user", "email": "someone@elsewhere.example", "name": "Someone Else"}
            ),
            "adopted": client.request(
                "POST",
                "/contacts",
                json={
                    "role": "user",
                    "email": data.adopted["email"],
                    "external_id": data.adopted["id"],
                    "name": "Name Before Migration",
                },
            ),
            "merged": client.request(
                "POST",
                "/contacts",
                json={"role": "user", "email": data.merged["email"], "name": "Owner Of That Mailbox"},
            ),
        }
    finally:
        client.close()
    return {name: str(c["id"]) for name, c in made.items()}


def intercom_id_of(cfg: dict, kind: str, key: str) -> str:
    """The Intercom id the ledger holds for a record."""
    ledger = Ledger(cfg["ledger_url"])
    try:
        return ledger.lookup(kind, key).intercom_id
    finally:
        ledger.close()


def ticket_of(sb: RunningSandbox, cfg: dict, incident_id: str) -> str:
    return intercom_id_of(cfg, "tickets", f"call:{incident_id}")


def contact_of(cfg: dict, person_id: str) -> str:
    return intercom_id_of(cfg, "contacts", f"person:{person_id}")


def company_of(cfg: dict, branch_id: str) -> str:
    return intercom_id_of(cfg, "companies", f"branch:{branch_id}")


def shape(snap: dict) -> dict:
    """Content without Intercom's ids: what a re-run must reproduce."""
    tickets = sorted(
        (json.dumps(tk.get("attributes"), sort_keys=True), len(tk.get("parts") or []))
        for tk in snap["tickets"].values()
    )
    contacts = sorted(
        (c.get("email") or "", c.get("external_id") or "", c.get("name") or "") for c in snap["contacts"].values()
    )
    companies = sorted((c.get("company_id") or "", c.get("name") or "") for c in snap["companies"].values())
    return {"tickets": tickets, "contacts": contacts, "companies": companies}


# ---------------------------------------------------------------------------------------------------- tests


def test_rollback_of_a_run_restores_the_state_before_it_and_a_rerun_recreates_it(tmp_path: Path) -> None:
    data = split()
    with sandbox() as sb:
        cfg = config(sb, tmp_path)
        pre = preexisting(sb, data)
        before_1 = snapshot(sb)
        run_1 = load(data.first, cfg)
        after_1 = snapshot(sb)
        run_2 = load(data.delta, cfg)
        after_2 = snapshot(sb)
        assert len(after_2["tickets"]) == len(after_1["tickets"]) + 3
        assert len(after_2["contacts"]) == len(after_1["contacts"]) + 2

        with pytest.raises(ValueError, match=run_2):  # runs go newest first too: run 2 builds on run 1
            rollback(cfg, run_1)

        # roll back run 2: what it created goes; what Intercom cannot restore is listed, and is all that differs
        summary = rollback(cfg, run_2)
        assert summary["status"] == "completed", summary["failed"]
        rows = summary["entities"]
        assert rows["tickets"]["deleted"] == 3 and rows["contacts"]["deleted"] == 2
        assert summary["order"].index("ticket_parts") < summary["order"].index("contacts")
        assert summary["order"].index("tickets") < summary["order"].index("ticket_parts")
        after_rb = snapshot(sb)
        new_part_ticket = ticket_of(sb, cfg, data.new_part_incident)
        manual = {(m["kind"], m["container"]) for m in summary["manual"]}
        assert manual == {("ticket_parts", f"tickets {new_part_ticket}")}  # a part on a run-1 ticket stays
        # what run 2 changed in run 1's contacts and ticket is put back; all that differs from after run 1 is what
        # the report lists as not restorable (a part on a run-1 ticket, and what Intercom keeps of its state)
        changed = {contact_of(cfg, p) for p in data.changed_persons}
        assert rows["contacts"]["restored"] == len(changed) and rows["tickets"]["restored"] >= 1, rows
        assert not summary["not_restored"], summary["not_restored"]
        listed = {(m["kind"], m["intercom_id"]) for m in summary["not_restorable"]} | {
            tuple(m["container"].split()) for m in summary["manual"]
        }
        assert all(m["reason"] for m in summary["not_restorable"])
        changed_ticket = ticket_of(sb, cfg, data.changed_incident)
        assert differences(after_1, after_rb) == {("tickets", new_part_ticket), ("tickets", changed_ticket)} <= listed
        for contact in changed:
            assert after_rb["contacts"][contact] == after_1["contacts"][contact]
        company = company_of(cfg, data.changed_branch)
        assert after_2["companies"][company] != after_1["companies"][company]
        assert after_rb["companies"][company] == after_1["companies"][company]
        ticket_1, ticket_rb = after_1["tickets"][changed_ticket], after_rb["tickets"][changed_ticket]
        assert after_2["tickets"][changed_ticket]["open"] is False
        # the title and the state are back; Intercom keeps the state changes in the ticket's history (its parts and
        # its previous state)
        history = ("parts", "previous_state_id")
        assert {k: v for k, v in ticket_rb.items() if k not in history} == {
            k: v for k, v in ticket_1.items() if k not in history
        }
        assert [p.get("part_type") for p in ticket_rb["parts"][len(ticket_1["parts"]) :]] == [
            "ticket_state_updated_by_admin"
        ] * 2
        reasons = {m["reason"] for m in summary["not_restorable"] if m["intercom_id"] == changed_ticket}
        assert any("state-change part" in r for r in reasons), summary["not_restorable"]
        report = json.loads((tmp_path / "reports" / summary["rollback_run_id"] / "rollback.json").read_text())
        assert report["totals"] == summary["totals"]
        assert "Remove by hand" in (tmp_path / "reports" / summary["rollback_run_id"] / "rollback.md").read_text()
        page = (tmp_path / "reports" / summary["rollback_run_id"] / "rollback.html").read_text()
        assert "<h2>Remove by hand (1)</h2>" in page and "<h2>Per entity</h2>" in page
        again = rollback(cfg, run_2)["totals"]  # nothing left of run 2 but what only a person can remove
        assert (again["selected"], again["manual"], again["deleted"]) == (1, 1, 0)

        # roll back everything: the contacts that were there before stay; the contacts the load made for callers
        # without a person record (POST /contacts, ledger key email:<address>) go with the rest
        summary = rollback(cfg, None)
        assert summary["status"] == "completed", summary["failed"]
        after_all = snapshot(sb)
        assert not after_all["tickets"] and not after_all["companies"]
        assert set(before_1["contacts"]) <= set(after_all["contacts"])
        # the adopted contact gets its own values back (run 1 renamed it); the others were never changed
        assert after_1["contacts"][pre["adopted"]]["name"] != "Name Before Migration"
        for name in ("unrelated", "merged", "adopted"):
            assert after_all["contacts"][pre[name]] == before_1["contacts"][pre[name]]
        assert {k["intercom_id"] for k in summary["kept"] if k["kind"] == "contacts"} >= {pre["adopted"], pre["merged"]}
        assert set(after_all["contacts"]) - set(before_1["contacts"]) == set()
        assert summary["totals"]["held_dropped"] == len(summary["held_dropped"]) > 0  # orphans of run 1
        ledger = Ledger(cfg["ledger_url"])
        assert ledger.held_counts() == {}
        assert not ledger.issues(category="orphan")
        ledger.close()
        counts = ledger_counts(cfg)
        assert not counts.get("tickets", {}).get("written") and not counts.get("ticket_parts", {}).get("written")

        # a re-run of both loads recreates everything (the ledger knows it was deleted)
        load(data.first, cfg)
        load(data.delta, cfg)
        again = snapshot(sb)
        assert shape(again) == shape(after_2)
        assert set(again["contacts"]) >= set(before_1["contacts"])
        runs = {r["run_id"]: r["status"] for r in Ledger(cfg["ledger_url"]).runs()}
        assert runs[run_1] == runs[run_2] == "rolled_back"


def crashed_creates(sb: RunningSandbox, cfg: dict, run_id: str) -> str:
    """Two ticket intents of ``run_id`` as a crash leaves them: one whose create reached Intercom (returns its id),
    one whose create never happened."""
    model = next(iter(sb.workspace.export()["tickets"]))
    attributes = {**model["attributes"], "_default_title_": "Created, then the target was killed"}
    client, ledger = sb.client(), Ledger(cfg["ledger_url"])
    try:
        made = client.request(
            "POST",
            "/tickets",
            json={
                "ticket_type_id": model["ticket_type_id"],
                "contacts": [{"email": "crash@visitor.example"}],
                "ticket_attributes": attributes,
                "created_at": 1_500_000_000,
            },
        )
        for key, stamp in (("call:crashed", 1_500_000_000), ("call:never-sent", 1_500_000_001)):
            ledger.record_intent(
                "tickets",
                key,
                "",
                run_id,
                extra={"ticket_type_id": model["ticket_type_id"], "created_at": stamp, "ticket_attributes": attributes},
            )
    finally:
        client.close()
        ledger.close()
    return str(made["id"])


def test_dry_run_deletes_nothing_and_open_intents_are_settled(tmp_path: Path) -> None:
    data = split()
    with sandbox() as sb:
        cfg = config(sb, tmp_path)
        run_1 = load(data.first, cfg)
        crashed = crashed_creates(sb, cfg, run_1)
        before, counts = snapshot(sb), ledger_counts(cfg)
        summary = rollback(cfg, None, dry_run=True)
        assert summary["status"] == "dry-run"
        ledger = Ledger(cfg["ledger_url"])
        created = ledger.created_by(None, limit=100_000)
        ledger.close()
        assert summary["totals"]["selected"] == len(summary["plan"]) == len(created)
        assert summary["entities"]["tickets"]["selected"] == len(before["tickets"]) + 1  # + the never-sent one
        assert summary["plan"][0]["kind"] == summary["order"][0]  # the plan is in deletion order
        assert summary["order"].index("tickets") < summary["order"].index("contacts")
        assert min(p["action"] for p in summary["plan"] if p["status"] == "intent").startswith("settle")
        assert snapshot(sb) == before and ledger_counts(cfg) == counts
        text = rb.console_summary(summary)
        assert "Dry run: nothing was deleted." in text and "tickets" in text

        summary = rollback(cfg, run_1)
        assert summary["status"] == "completed", summary["failed"]
        assert summary["entities"]["tickets"]["not_created"] == 1  # settled: the create had not happened
        assert crashed not in snapshot(sb)["tickets"] and not snapshot(sb)["tickets"]  # found, and deleted
        # every ticket row is deleted: the tickets, the never-sent one and their call-number aliases
        assert set(ledger_counts(cfg)["tickets"]) == {"deleted"}


class Killed(BaseException):
    """Stands for the process being killed mid-rollback."""


def test_interrupted_rollback_continues_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = split()
    with sandbox() as sb:
        cfg = config(sb, tmp_path)
        load(data.first, cfg)
        tickets = len(snapshot(sb)["tickets"])
        request = IntercomClient.request
        deletes = {"n": 0}

        def dying(self: IntercomClient, method: str, path: str, **kwargs: t.Any) -> dict:
            if method == "DELETE":
                deletes["n"] += 1
                if deletes["n"] > 25:
                    raise Killed
            return request(self, method, path, **kwargs)

        monkeypatch.setattr(IntercomClient, "request", dying)
        with pytest.raises(Killed):
            rollback(cfg, None)
        monkeypatch.setattr(IntercomClient, "request", request)
        partial = snapshot(sb)
        assert 0 < tickets - len(partial["tickets"]) < tickets
        interrupted = sorted((tmp_path / "reports").glob("*/rollback.json"))
        assert json.loads(interrupted[-1].read_text())["status"] == "interrupted"

        summary = rollback(cfg, None)
        assert summary["status"] == "completed", summary["failed"]
        assert summary["entities"]["tickets"]["deleted"] == len(partial["tickets"])
        done = snapshot(sb)
        assert not done["tickets"] and not done["companies"]
        assert all(not c.get("external_id") for c in done["contacts"].values())  # none the load made remain
        assert rollback(cfg, None)["totals"]["selected"] == 0


def test_executable_is_still_a_singer_target_and_dispatches_rollback(tmp_path: Path) -> None:
    about = subprocess.run([str(BIN), "--about", "--format", "json"], capture_output=True, text=True, check=True)
    assert json.loads(about.stdout)["name"] == "target-intercom"
    helped = subprocess.run([str(BIN), "rollback", "--help"], capture_output=True, text=True, check=True)
    assert "--dry-run" in helped.stdout and "--all" in helped.stdout
    data = split()
    with sandbox() as sb:
        cfg = config(sb, tmp_path)
        file_cfg = {k: v for k, v in cfg.items() if k != "access_token"}
        (tmp_path / "config.json").write_text(json.dumps(file_cfg))
        env = {"TARGET_INTERCOM_ACCESS_TOKEN": sb.token}
        # the executable loads as a Singer target: messages on stdin, config from a file and the environment
        subprocess.run(
            [str(BIN), "--config", str(tmp_path / "config.json"), "--config", "ENV"],
            check=True,
            input="".join(json.dumps(m) + "\n" for m in data.first),
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
        ledger = Ledger(cfg["ledger_url"])
        run_1 = ledger.runs()[0]["run_id"]
        ledger.close()
        assert snapshot(sb)["tickets"]
        out = io.StringIO()
        with contextlib.redirect_stdout(out), _env(env), pytest.raises(SystemExit) as exited:
            cli.main(
                ["rollback", "--config", str(tmp_path / "config.json"), "--config", "ENV", "--run", run_1, "--dry-run"]
            )
        assert exited.value.code in (0, None)
        assert "Dry run: nothing was deleted." in out.getvalue() and sb.token not in out.getvalue()
        with pytest.raises(SystemExit) as exited:  # the token is required, its absence is named
            cli.main(["rollback", "--config", str(tmp_path / "config.json"), "--all"])
        assert exited.value.code == 2
        with contextlib.redirect_stdout(out), _env(env), pytest.raises(SystemExit) as exited:
            cli.main(["rollback", "--config", str(tmp_path / "config.json"), "--config", "ENV", "--run", run_1])
        assert exited.value.code in (0, None)
        assert not snapshot(sb)["tickets"]
        listed = io.StringIO()
        with contextlib.redirect_stdout(listed), _env(env), pytest.raises(SystemExit):
            cli.main(["rollback", "--config", str(tmp_path / "config.json"), "--config", "ENV", "--list-runs"])
        assert f"{run_1}  rolled_back" in listed.getvalue() and "rollback of " + run_1 in listed.getvalue()
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert sb.token.encode() not in path.read_bytes(), path


@contextlib.contextmanager
def _env(values: dict[str, str]) -> t.Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
