"""The load bench's figures of issue #18 as pure functions: the requests floor per entity kind and the ratio to it,
the target's CPU per request, the sandbox's per-app counters, the 2M projection with 3 tokens, the trace hook's
file format, and the keys ``bench/run --quick`` writes (built from fixtures, no sandbox or Meltano run)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest
import target_load
import trace_target

RUN = Path(__file__).resolve().parent.parent / "run"


def bench_run():  # bench/run has no .py suffix: import it by its path
    loader = importlib.machinery.SourceFileLoader("bench_run", str(RUN))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_floor_is_one_per_write_and_one_per_final_state_none_per_relationship() -> None:
    records = {
        "contacts": 10,
        "companies": 2,
        "contact_companies": 10,
        "custom_object_instances": 7,
        "ticket_parts": 30,
        "conversation_parts": 4,
        "articles": 3,
        "collections": 1,
        "tickets": 20,
        "conversations": 5,
        "custom_object_links": 9,
        "admins": 6,
        "teams": 2,
    }
    floors = target_load.floor_requests(records, {"tickets": 17, "conversations": 1})
    assert floors["tickets"] == 20 + 17 and floors["conversations"] == 5 + 1
    assert floors["custom_object_links"] == floors["admins"] == floors["teams"] == 0
    assert all(floors[k] == records[k] for k in ("contacts", "contact_companies", "articles"))
    assert floors["companies"] == 2 * 2  # the read that finds a company the workspace had already, the upsert
    assert sum(floors.values()) == 10 + 4 + 10 + 7 + 30 + 4 + 3 + 1 + 37 + 6
    # without the final states: one per ticket
    assert target_load.floor_requests({"tickets": 20})["tickets"] == 20
    assert target_load.ratio(120, 100) == 1.2
    assert target_load.ratio(5, 0) is None and target_load.ratio(None, 3) is None


def test_final_states_counts_what_a_create_does_not_leave(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE ledger_entities (kind TEXT, source_key TEXT, status TEXT, extra TEXT)")
        rows = [
            ("tickets", "1", "written", {"final_state": {"ticket_state_id": "5", "open": False}}),
            ("tickets", "2", "written", {"final_state": {}}),  # submitted and open: what the create left
            ("tickets", "3", "written", {"final_state": {"open": False}}),
            ("tickets", "4", "intent", {"final_state": {"open": False}}),  # never written
            ("conversations", "5", "written", {"final_state": {"open": True}}),
            ("conversations", "6", "written", {"final_state": {"open": False}}),
            ("contacts", "7", "written", {"final_state": {"open": False}}),
        ]
        c.executemany("INSERT INTO ledger_entities VALUES (?, ?, ?, ?)", [(*r[:3], json.dumps(r[3])) for r in rows])
    c.close()
    assert target_load.final_states(db) == {"tickets": 2, "conversations": 1}


def test_cpu_per_request_arithmetic() -> None:
    got = target_load.cpu_per_request(12.5, 25_000)
    assert got == {"target_cpu_ms_per_request": 0.5, "target_cpu_s_per_1000_requests": 0.5}
    assert target_load.cpu_per_request(None, 10)["target_cpu_ms_per_request"] is None
    assert target_load.cpu_per_request(3.0, 0)["target_cpu_s_per_1000_requests"] is None


def test_cpu_share_between_samples() -> None:
    timeline = [(100.0, 1.0), (101.0, 1.5), (102.0, 2.4), (103.0, 3.3)]
    assert target_load.cpu_share(timeline, 101.5, 103.0) == round((3.3 - 1.5) / 2, 3)
    assert target_load.cpu_share(timeline, 99.0, 103.0) is None  # no sample before the phase
    assert target_load.cpu_share(None, 1, 2) is None


def test_server_delta_per_app() -> None:
    before = {
        "requests_served": 10,
        "requests_rejected_429": 0,
        "apps": [{"app": "app1", "requests_served": 10, "requests_rejected_429": 0}],
    }
    app = {"requests_rejected_429": 0, "max_accepted_in_window": 1388, "window_budget": 1666}
    after = {
        "requests_served": 310,
        "requests_rejected_429": 1,
        "requests_rejected_workspace_429": 1,
        "max_accepted_in_window": 4164,
        "window_budget": 1666,
        "workspace_window_budget": 4166,
        "apps": [
            {**app, "app": "app1", "requests_served": 110},
            {**app, "app": "app2", "requests_served": 100, "requests_rejected_429": 1},
        ],
    }
    d = target_load.server_delta(before, after)
    assert (d["requests_served"], d["requests_rejected_429"], d["requests_rejected_workspace_429"]) == (300, 1, 1)
    assert [(a["app"], a["requests_served"], a["requests_rejected_429"]) for a in d["apps"]] == [
        ("app1", 100, 0),
        ("app2", 100, 1),
    ]
    assert d["workspace_window_budget"] == 4166


def test_trace_file_round_trip_and_old_format(tmp_path: Path) -> None:
    path = tmp_path / "trace.json"
    path.write_text(
        json.dumps(
            {"requests": [[1.0, 1.2, "contacts", "POST", "/contacts", "ok", 7]], "cpu": {"user_s": 1.5, "sys_s": 0.25}}
        )
    )
    assert trace_target.read(path) == (
        [(1.0, 1.2, "contacts", "POST", "/contacts", "ok", 7)],
        {"user_s": 1.5, "sys_s": 0.25},
    )
    path.write_text(json.dumps([[1.0, 1.2, "contacts", "POST", "/contacts", "ok", 7]]))
    assert trace_target.read(path)[1] is None
    assert trace_target.route("/tickets/215466/reply") == "/tickets/{id}/reply"


def test_hook_venv_traces_only_when_told(tmp_path: Path) -> None:
    trace_target.hook_venv(tmp_path)
    assert (tmp_path / "bench_trace_target.pth").read_text().startswith("import bench_trace_target;")
    assert (tmp_path / "bench_trace_target.py").read_text() == Path(trace_target.__file__).read_text()
    trace_target.trace_to(tmp_path, tmp_path / "t.json")
    assert json.loads((tmp_path / "bench_trace_target.json").read_text()) == {"trace": str(tmp_path / "t.json")}
    trace_target.trace_to(tmp_path, None)
    assert json.loads((tmp_path / "bench_trace_target.json").read_text()) == {"trace": None}


def analysed(tokens: int) -> dict:
    """``target_load.analyse`` of a synthetic run: two full windows of writes at the budget, no 429."""
    limit = 1666 * tokens if tokens == 1 else 1388 * tokens
    t0 = 1_000_000.0
    trace = [(t0 - 1, t0 - 0.9, "preflight", "GET", "/me", "ok", 1)]
    kinds = ["tickets", "ticket_parts", "contacts", "custom_object_links"]
    for w in range(2):
        for i in range(limit):
            sent = t0 + w * 10 + i * 9.5 / limit
            trace.append((sent, sent + 0.15, kinds[i % 4], "POST", "/x", "ok", 100 + i % 8))
    trace.append((t0 + 20.1, t0 + 20.25, "contacts", "GET", "/contacts/{id}", "ok", 100))  # the last, in window 3
    per_kind = 2 * limit // 4
    summary = {
        "requests": {
            "limit": limit,
            "requests_sent": len(trace),
            "requests_over_limit": 0,
            "windows": {str(int(t0) + 10 * w): {"accepted": limit if w < 3 else 1} for w in (1, 2, 3)},
            "apps": [{"requests_sent": len(trace) // tokens, "requests_over_limit": 0, "limit": 1666}] * tokens,
        },
        "entities": {k: {"received": per_kind, "created": per_kind} for k in kinds},
    }
    run = {
        "start": t0 - 2,
        "end": t0 + 21,
        "states": None,
        "tap": {"peak_rss_kb": 1024, "cpu_s": 1.0},
        "target": {"peak_rss_kb": 2048, "cpu_s": 3.0, "user_s": 2.5, "sys_s": 0.5},
    }
    stats = {
        "requests_served": len(trace),
        "requests_rejected_429": 0,
        "requests_rejected_workspace_429": 0,
        "window_budget": 1666,
        "workspace_window_budget": 4166,
        "max_accepted_in_window": limit,
        "apps": [
            {
                "app": f"app{n + 1}",
                "requests_served": len(trace) // tokens,
                "requests_rejected_429": 0,
                "max_accepted_in_window": limit // tokens,
                "window_budget": 1666,
            }
            for n in range(tokens)
        ],
    }
    return target_load.analyse(trace, summary, {}, stats, run, 128, {"tickets": per_kind})  # every ticket closed


@pytest.mark.parametrize("tokens", [1, 3])
def test_analyse_reports_floor_cpu_and_apps(tokens: int) -> None:
    got = analysed(tokens)
    assert got["budget_used_fraction"] == 1.0 and got["full_windows"] == 2
    per_kind = got["kinds"]["tickets"]["records"]
    # the floor: tickets 2 each (create, final state), parts and contacts 1, links 0
    assert got["floor_requests"] == 2 * per_kind + 2 * per_kind
    assert got["requests_vs_floor"] == round(got["requests_writers"] / got["floor_requests"], 3)
    assert got["kinds"]["custom_object_links"]["floor_requests"] == 0
    assert got["kinds"]["tickets"]["floor"] == 2.0
    assert got["target_cpu_ms_per_request"] == round(3.0 / got["requests_sent_client"] * 1000, 3)
    assert len(got["apps_server"]) == tokens and got["requests_over_limit"] == 0


def test_quick_result_has_the_issue_18_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    run = bench_run()
    result = {
        "quick": True,
        "when": "2026-12-05T00:00:00Z",
        "total_s": 1.0,
        "machine": {"cores": 2, "cpu": "x", "ram_gb": 4, "python": "3.11"},
        "load": run.load_result(analysed(1), 600, 1),
        "load_3_tokens": run.load_result(analysed(3), 2000, 3),
    }
    walls = {(1, 2000): 60.0, (1, 10_000): 140.0, (3, 2000): 30.0, (3, 10_000): 62.0}

    def fake_run(data, scale, seed, sys_dir, tmp, rate, latency, topdesk_latency, tokens):
        records = 2000 if scale < 1000 else 10_000
        return {
            "tokens": len(tokens),
            "source_records": records,
            "wall_s": walls[len(tokens), records],
            "bounded_by": "load",
            "bounded_by_why": "x",
            "intercom_records_written": records,
            "records_per_s": 1,
            "requests_over_limit": 0,
            "peak_rss_mb": {"meltano": 1, "tap": 1, "target": 1},
        }

    monkeypatch.setattr(run.pipeline, "run", fake_run)
    monkeypatch.setattr(run, "dataset", lambda records, seed: (Path("/nowhere"), round(records / 5.9), {}))
    result["pipeline"] = run.pipeline_runs((2000, 10_000), 7, Path("/tmp"), lambda: (Path("/sys"), 1.0))
    for key in ("load", "load_3_tokens"):
        assert set(result[key]) == set(result["load"])
        assert result[key]["requests_vs_floor"] >= 1 and result[key]["target_cpu_ms_per_request"] > 0
        assert "target_cpu_s_per_1000_requests" in result[key]
    assert result["load_3_tokens"]["window_budget"] == 4164 and result["load"]["window_budget"] == 1666
    pl = result["pipeline"]
    # measured with 3 tokens, its own line: 22 s + 4 ms/record (1 token: 40 s + 10 ms/record)
    assert [r["tokens"] for r in pl["runs"]] == [1, 1] and [r["tokens"] for r in pl["runs_3_tokens"]] == [3, 3]
    assert (
        pl["projection_2m_hours_3_tokens"]
        == pl["projection_2m_3_tokens"]["hours"]
        == round((22 + 0.004 * 2e6) / 3600, 1)
    )
    assert pl["projection_2m"]["hours"] == round((40 + 0.01 * 2e6) / 3600, 1)
    text = "\n".join(run.pipeline_markdown(pl))
    assert "| 10k | 3 | 10,000 |" in text and f"**{pl['projection_2m_hours_3_tokens']} h** with 3 tokens" in text
    table = run.load_markdown(result["load_3_tokens"])
    assert any("vs floor" in line for line in table) and any("CPU s per 1,000 requests" in line for line in table)
    assert any(line.startswith("| per app (server) | app1:") for line in table)
