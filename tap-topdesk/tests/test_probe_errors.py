"""Module probe (hidden modules), error messages and secrets."""

from __future__ import annotations

import logging
import typing as t
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_topdesk.client import ModuleUnavailableError
from tap_topdesk.probe import HIDDEN, NOT_AVAILABLE, run_probe
from tap_topdesk.tap import TapTopdesk
from topdesk2intercom_testing.tap import PASSWORD, admin, config, health_counts, shared_sandbox, start_sandbox, sync


def test_probe_reports_hidden_assets(caplog: pytest.LogCaptureFixture) -> None:
    url = shared_sandbox(scale=200, seed=3, hidden_modules=frozenset({"assets"}))
    tap = TapTopdesk(config=config(url), parse_env_config=False)
    report = run_probe(tap, log=False)
    assert report["assets"]["status"] == HIDDEN
    assert "reference" in report["assets"]["detail"]
    assert report["incidents"]["status"] == "data"
    assert report["export:problems"]["status"] == NOT_AVAILABLE
    # a sync logs it as a warning (and there are no per-template asset streams to extract)
    with caplog.at_level(logging.WARNING):
        run = sync(config(url), streams=["departments"])
    assert run.counts["departments"] > 0
    assert any("'assets' is probably hidden" in r.getMessage() for r in caplog.records)
    assert not [s for s in tap.streams if s.startswith("assets_")]


def test_probe_cli_prints_report(tmp_path) -> None:
    url = shared_sandbox(scale=200, seed=3, hidden_modules=frozenset({"assets"}))
    cfg = tmp_path / "config.json"
    cfg.write_text(__import__("json").dumps(config(url)))
    result = CliRunner().invoke(TapTopdesk.cli, ["--config", str(cfg), "--probe"])
    assert result.exit_code == 0, result.output
    assert "assets" in result.output
    assert "probably hidden" in result.output
    assert "WARNING: probably hidden from this operator: assets" in result.output


def test_probe_reports_hidden_operators() -> None:
    url = shared_sandbox(scale=200, seed=3, hidden_modules=frozenset({"operators", "persons"}))
    report = run_probe(TapTopdesk(config=config(url), parse_env_config=False), log=False)
    assert report["operators"]["status"] == HIDDEN
    assert report["persons"]["status"] == HIDDEN


def test_401_names_login_and_app_password_and_never_logs_secret(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    url = shared_sandbox(scale=200, seed=3)
    secret = "wrong-secret-Xy9!"
    cfg = {**config(url), "app_password": secret}
    with caplog.at_level(logging.DEBUG), pytest.raises(FatalAPIError) as excinfo:
        sync(cfg, streams=["incidents"])
    message = str(excinfo.value)
    assert "login name" in message
    assert "application password" in message
    captured = capsys.readouterr()
    assert secret not in caplog.text
    assert secret not in captured.out + captured.err
    assert secret not in message


def test_secret_not_in_logs_of_a_normal_run(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    url = shared_sandbox(scale=200, seed=3)
    with caplog.at_level(logging.DEBUG):
        sync(config(url), streams=["operators", "branches"])
    captured = capsys.readouterr()
    assert PASSWORD not in caplog.text
    assert PASSWORD not in captured.err


def test_config_marks_app_password_secret() -> None:
    prop = TapTopdesk.config_jsonschema["properties"]["app_password"]
    assert prop.get("secret") is True
    assert prop.get("writeOnly") is True


def _response(status: int, url: str = "http://td.example/tas/api/operatorChanges") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.url = url
    response.reason = "Forbidden"
    response._content = b'[{"message":"No permission to access the data"}]'
    response.headers["Content-Type"] = "application/json"
    return response


def test_403_on_a_module_is_a_warning_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    url = shared_sandbox(scale=200, seed=3)
    tap = TapTopdesk(config=config(url), parse_env_config=False)
    stream = tap.streams["changes"]
    with pytest.raises(ModuleUnavailableError, match="Module 'changes': no permission"):
        stream.validate_response(_response(403))

    def forbidden(context: object) -> t.Iterator[dict]:
        stream.validate_response(_response(403))
        yield {}

    stream.read = forbidden  # type: ignore[method-assign]
    tap.probe_report = {}  # skip the probe
    with caplog.at_level(logging.WARNING):
        assert list(stream.get_records(None)) == []
    assert any("Module 'changes': no permission" in r.getMessage() for r in caplog.records)
    assert "changes" in tap.unavailable


def test_5xx_is_retried_and_4xx_is_fatal() -> None:
    url = shared_sandbox(scale=200, seed=3)
    stream = TapTopdesk(config=config(url), parse_env_config=False).streams["incidents"]
    with pytest.raises(RetriableAPIError):
        stream.validate_response(_response(503))
    with pytest.raises(FatalAPIError):
        stream.validate_response(_response(400))


def test_export_streams_registered_only_when_available(tmp_path: Path) -> None:
    from topdesk_sandbox.generator import build_dataset

    url = shared_sandbox(scale=200, seed=3)
    names = {"problems", "known_errors", "events_actions", "activity_templates"}
    without = TapTopdesk(config=config(url), parse_env_config=False)
    assert not names & set(without.streams)
    for name, text in build_dataset(200, 3).exports.items():
        if name.endswith(".csv"):
            (tmp_path / name).write_text(text, encoding="utf-8")
    with_exports = TapTopdesk(config=config(url, exports_dir=str(tmp_path)), parse_env_config=False)
    assert names <= set(with_exports.streams)
    report = run_probe(with_exports, log=False)
    assert report["export:problems"]["status"] == "data"


def test_a_referenced_object_that_is_gone_is_a_warning_and_the_rest_is_read(caplog: pytest.LogCaptureFixture) -> None:
    """An e-mail a progress trail still points at can be deleted in TOPdesk: that one 404 must not hide the
    module or stop the sync."""
    url = start_sandbox(scale=100, seed=11)
    emails = health_counts(url)["emails"]
    first = sync(config(url), streams=["incidents", "incident_progress_trail", "incident_emails"])
    victim = first.records("incident_emails")[0]["id"]
    admin(url, "DELETE", f"emails/{victim}")
    with caplog.at_level(logging.WARNING):
        run = sync(config(url), streams=["incidents", "incident_progress_trail", "incident_emails"])
    got = {r["id"] for r in run.records("incident_emails")}
    assert victim not in got and len(got) == emails - 1
    assert any("referenced object not found" in r.getMessage() for r in caplog.records)
