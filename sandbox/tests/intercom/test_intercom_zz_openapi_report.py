"""Runs last (file name): every exchange of the whole session must match the 2.16 spec, except the deviations
listed in ``intercom_sandbox.openapi.ALLOWED_DEVIATIONS``."""

from __future__ import annotations

from intercom_sandbox.openapi import SpecValidator


def test_no_openapi_violations_in_session(validator: SpecValidator) -> None:
    violations = validator.check()
    assert validator.checked > 100, "the validator saw too few exchanges to mean anything"
    assert violations == [], "\n".join(str(v)[:2000] for v in violations)
