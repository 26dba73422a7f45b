"""The request check (issue 15, "A live read check"): each selected stream's first request, once, at page size 1,
before the sync. Against the strict sandbox: the default tenant accepts every request (and the check asks exactly what
the sync then asks); each tenant variant is reported and handled (change API 1.4.0: fallback to the whole list, set on
the stream; no 'Sent email messages' permission: hidden, the sync goes on); a refused request without fallback stops
the sync before any record, naming the stream, the request and how to deselect it."""

from __future__ import annotations

import contextlib
import io
import json
import re
import typing as t
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner

from tap_topdesk.request_check import (
    ACCEPTED,
    HIDDEN,
    NOT_CHECKED,
    REFUSED,
    RequestCheckStopError,
    readable,
    run_request_check,
)
from tap_topdesk.streams.supporting import BranchesStream
from tap_topdesk.tap import TapTopdesk
from topdesk2intercom_testing.tap import Run, catalog_selecting, config, recording, shared_sandbox

SCALE, SEED = 200, 3
#: the lower bound of "after every window": ``=gt=<now>`` (FIQL) or `` gt '<now>'`` (asset ``$filter``)
NOW = re.compile(r"(=gt=| gt ')\d{4}-\d\d-\d\dT[\d:.]+Z?")
#: Streams that need a parent record: each must be checked with a real id on the default tenant.
CHILDREN = (
    "incident_progress_trail",
    "incident_attachments",
    "incident_emails",
    "operator_group_members",
    "change_progress_trail",
    "operational_series",
    "asset_links",
)
#: Page size parameters of the endpoint families (the check sends 1, the sync its own).
SIZE_PARAMS = ("pageSize", "page_size", "$top")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@pytest.fixture(scope="module")
def dataset() -> dict[str, list[dict]]:
    from topdesk_sandbox.generator import build_dataset

    return build_dataset(SCALE, SEED).records


def _tap(url: str, streams: t.Iterable[str] | None = None, **extra: t.Any) -> TapTopdesk:
    cfg = config(url, **extra)
    return TapTopdesk(config=cfg, catalog=catalog_selecting(cfg, streams), parse_env_config=False)


def _sync(tap: TapTopdesk) -> tuple[Run, Exception | None]:
    """``sync_all`` of this tap (so that its request check can be inspected): what it wrote, and what it raised."""
    buffer = io.StringIO()
    error: Exception | None = None
    with contextlib.redirect_stdout(buffer):
        try:
            tap.sync_all()
        except Exception as exc:  # noqa: BLE001  whatever the sync raised is what the tests inspect
            error = exc
    return Run([json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]), error


def _synced(tap: TapTopdesk) -> Run:
    run, error = _sync(tap)
    assert error is None, error
    return run


def _without_size(path_query: str) -> tuple[str, tuple]:
    """A request with its page size left out (the check asks 1, the sync its page size) and the instant "now" of a
    listing after every window masked (the check's and the sync's differ by a few seconds)."""
    parts = urlsplit(path_query)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    return parts.path, tuple(sorted((k, NOW.sub("=gt=*", v)) for k, v in pairs if k not in SIZE_PARAMS))


def test_default_tenant_accepts_every_first_request_the_sync_then_sends() -> None:
    url = shared_sandbox(scale=SCALE, seed=SEED)
    tap = _tap(url)
    result = run_request_check(tap, log=False)
    verdicts = result.by_stream()
    assert {c.verdict for c in result.checks} == {ACCEPTED}, {n: c.verdict for n, c in verdicts.items()}
    # every stream the sync reads is checked once; nothing stops the sync
    assert set(verdicts) == set(tap.streams)
    assert not result.stopping and not result.sync_would_fail
    # a windowed stream: the listing outside every window (sent first by the sync), then its range read whole
    assert "==null" in verdicts["incidents"].request and "=ge=" in readable(verdicts["incidents"].also[0])
    # each stream's first request is sent; an asset template's requests are its category's (outside listings, flags)
    # and its own range
    assets = [c for c in result.checks if c.stream.startswith("assets_")]
    assert len(assets) > 5 and all(len(c.also) == 5 for c in assets), [len(c.also) for c in assets]
    # the category's five listings are sent for its first template only (each later category: its first listing,
    # for the new resourceCategory, then covered); each template's own range is sent
    categories = len({tap.streams[c.stream].category for c in assets})  # type: ignore[attr-defined]
    assert result.covered == 5 * (len(assets) - 1) - (categories - 1), result.covered
    assert result.requests + result.covered == sum(1 + len(c.also) for c in result.checks)
    assert 0 < result.lookups <= 12 * len(CHILDREN)
    for name in CHILDREN:  # asked with the id of a real parent record
        assert UUID.search(verdicts[name].request), (name, verdicts[name].request)
    assert verdicts["incident_emails"].request.startswith("/tas/api/emails/id/")
    # at page size 1 wherever the endpoint pages
    for check in result.checks:
        sizes = {v for k, v in parse_qsl(urlsplit(check.sent).query) if k in SIZE_PARAMS}
        assert sizes <= {"1"}, check.request
    assert sum(1 for c in result.checks if any(f"{p}=1" in c.sent for p in ("pageSize", "page_size", "%24top"))) > 20
    # the sync (its own check skipped here) sends each checked request, at its own page size
    tap.probe_report = {}
    with recording() as sent:
        run = _synced(tap)
    synced = {_without_size(str(r)) for r in sent}
    for check in result.checks:
        for request in (check.sent, *check.also):
            assert _without_size(request) in synced, f"{check.stream}: the sync never sends {readable(request)}"
    assert run.counts["incidents"] == SCALE


def test_the_sync_runs_the_check_once_before_the_first_stream() -> None:
    url = shared_sandbox(scale=SCALE, seed=SEED)
    tap = _tap(url, ["departments", "budget_holders"])
    with recording() as sent:
        run = _synced(tap)
    assert tap.request_check is not None and set(tap.request_check.by_stream()) == {"departments", "budget_holders"}
    for path in ("/tas/api/departments", "/tas/api/budgetholders"):
        assert [str(r) for r in sent].count(path) == 3, path  # the module probe, the request check, the sync
    assert run.counts["departments"] > 0


def test_change_api_14_is_refused_and_read_whole(dataset: dict[str, list[dict]]) -> None:
    """The windows' request is refused (400, TOPdesk's message reported); the check switches the stream to the whole
    list and checks that list's first request; the sync does not ask again and every change arrives."""
    url = shared_sandbox(scale=SCALE, seed=SEED, variants=frozenset({"change-1.4"}))
    tap = _tap(url, ["changes", "change_progress_trail"])
    with recording() as sent:
        run = _synced(tap)
    changes = tap.request_check.by_stream()["changes"]  # type: ignore[union-attr]
    assert changes.verdict == REFUSED and changes.status == 400
    assert "Unknown query parameter" in changes.message  # TOPdesk's own message, from its [{"message"}] body
    assert "query=(modificationDate=gt=" in changes.request and "pageSize=1" in changes.request  # sent first
    assert changes.fallback.startswith("reads the whole list") and "pageSize=1: accepted" in changes.fallback
    assert not changes.stops and "fallback: reads the whole list" in changes.outcome
    assert tap.streams["changes"].whole_list is True  # type: ignore[attr-defined]
    trail = tap.request_check.by_stream()["change_progress_trail"]  # type: ignore[union-attr]
    assert trail.verdict == ACCEPTED  # its parent id came from the whole list's answer
    refused_shape = [r for r in sent if r.path == "/tas/api/operatorChanges" and "query" in r.params]
    assert len(refused_shape) == 1, "the sync asked the refused windows' request again"
    assert sorted(r["id"] for r in run.records("changes")) == sorted(c["id"] for c in dataset["changes"])


def test_missing_email_permission_is_hidden_and_the_sync_goes_on(dataset: dict[str, list[dict]]) -> None:
    url = shared_sandbox(scale=SCALE, seed=SEED, variants=frozenset({"no-sent-email-permission"}))
    streams = ["incidents", "incident_progress_trail", "incident_emails"]
    tap = _tap(url, streams)
    with recording() as sent:
        run = _synced(tap)
    emails = tap.request_check.by_stream()["incident_emails"]  # type: ignore[union-attr]
    assert emails.verdict == HIDDEN and emails.status == 403 and not emails.stops
    assert emails.request.startswith("/tas/api/emails/id/") and "Sent email messages" in emails.outcome
    assert "incident_emails" in tap.unavailable
    emails_asked = [r for r in sent if r.path.startswith("/tas/api/emails/")]
    assert len(emails_asked) == 1, "the sync asked for e-mails after the 403"
    assert len(run.records("incidents")) == len(dataset["incidents"])
    assert len(run.records("incident_progress_trail")) == len(dataset["incident_progresstrail"])
    assert run.records("incident_emails") == []


@pytest.mark.parametrize(
    ("variant", "streams"),
    [
        ("asset-grids-unid", ["asset_templates", "asset_links"]),
        ("assets-old-filters", ["asset_templates", "asset_links"]),
        ("kb-default-nl", ["knowledge_items", "knowledge_folders"]),
    ],
)
def test_variants_the_tap_reads_as_they_are_are_accepted(
    variant: str, streams: list[str], dataset: dict[str, list[dict]]
) -> None:
    """Grids keyed ``unid``, asset ``$filter`` before 1.80, a Dutch default language: the requests are taken (the tap
    adapts to the answers), so the check accepts them and the sync reads every record."""
    url = shared_sandbox(scale=SCALE, seed=SEED, variants=frozenset({variant}))
    names = streams + ([n for n in _tap(url).streams if n.startswith("assets_")] if "asset_links" in streams else [])
    tap = _tap(url, names)
    run = _synced(tap)
    result = tap.request_check
    assert result is not None and {c.verdict for c in result.checks} == {ACCEPTED}, result
    assert set(result.by_stream()) == set(names)
    assert any("'unid'" in note for note in result.notes) == (variant == "asset-grids-unid"), result.notes
    expected = {"asset_links": "asset_links", "knowledge_folders": "knowledge_folders"}
    for stream in streams:
        if stream in expected:
            assert len(run.records(stream)) == len(dataset[expected[stream]]), stream
    if "asset_links" in streams:
        assets = sum(len(run.records(n)) for n in names if n.startswith("assets_"))
        assert assets == len(dataset["assets"])


def test_child_without_parent_record_is_not_checked() -> None:
    """A hidden changes module answers empty: its progress trail has no id to be asked with, and says so."""
    url = shared_sandbox(scale=SCALE, seed=SEED, hidden_modules=frozenset({"changes"}))
    result = run_request_check(_tap(url, ["changes", "change_progress_trail"]), log=False)
    trail = result.by_stream()["change_progress_trail"]
    assert trail.verdict == NOT_CHECKED and "no parent record" in trail.message and not trail.stops
    assert 0 < result.lookups <= 12


def test_refused_request_without_fallback_stops_before_any_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A stream whose first request the tenant refuses (here: an undocumented parameter, which the strict sandbox
    refuses as TOPdesk does) and that has no fallback: ``--probe`` exits 1 and the sync stops before any RECORD,
    naming the stream, the request and how to deselect it."""
    url = shared_sandbox(scale=SCALE, seed=SEED)
    original = BranchesStream.get_url_params

    def with_unknown(self: BranchesStream, context: t.Any, next_page_token: t.Any) -> dict[str, t.Any]:
        return {**original(self, context, next_page_token), "colour": "blue"}

    monkeypatch.setattr(BranchesStream, "get_url_params", with_unknown)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config(url)))
    probe = CliRunner().invoke(TapTopdesk.cli, ["--config", str(cfg), "--probe"])
    assert probe.exit_code == 1, probe.output
    assert "STOPS THE SYNC" in probe.output and "colour=blue" in probe.output

    tap = _tap(url, ["operators", "branches", "departments"])
    run, error = _sync(tap)
    assert isinstance(error, RequestCheckStopError), error
    message = str(error)
    assert "stream 'branches'" in message and "GET /tas/api/branches?" in message and "colour=blue" in message
    assert "HTTP 400" in message and "colour" in message.split("HTTP 400", 1)[1]  # TOPdesk's message
    assert "select: ['*.*', '!branches.*']" in message and "meltano select tap-topdesk --exclude branches" in message
    assert "include_archived: false" in message  # the request asks for archived branches too
    assert config(url)["app_password"] not in message
    assert not [m for m in run.messages if m["type"] == "RECORD"]
