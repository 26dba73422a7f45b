"""The validator itself: it really runs, and a spec-violating request is recorded."""

from __future__ import annotations

from intercom_sandbox_testkit import Sandbox

from intercom_sandbox.openapi import ALLOWED_DEVIATIONS, SpecValidator


def test_spec_violating_request_is_recorded(sandbox: Sandbox, validator: SpecValidator) -> None:
    validator.check()  # flush what earlier tests left pending
    before = len(validator.violations)
    response = sandbox.post("/contacts", {"role": 123})
    assert response.status_code == 400
    validator.check()
    new = validator.violations[before:]
    assert any(v.kind == "request" and v.path == "/contacts" and "role" in v.message for v in new), new
    assert all(not v.accepted for v in new if v.kind == "request")


def test_valid_exchange_is_clean(sandbox: Sandbox, validator: SpecValidator) -> None:
    before = validator.checked
    sandbox.ok("GET", "/me")
    sandbox.ok("GET", "/admins")
    assert validator.check() == [] or all(v.path not in ("/me", "/admins") for v in validator.check())
    assert validator.checked >= before + 2


def test_deviations_are_named_and_explained() -> None:
    names = [d.name for d in ALLOWED_DEVIATIONS]
    assert len(names) == len(set(names))
    assert all(len(d.reason) > 40 for d in ALLOWED_DEVIATIONS)


def test_a_response_showing_two_known_deviations_is_allowed_and_an_unknown_error_is_not() -> None:
    """A conversation with a null part reference *and* a relationship value: each error is a known deviation."""
    from intercom_sandbox.openapi import Exchange, Violation, _covering

    ex = Exchange("GET", "/conversations/7", [], {}, b"", 200)
    part = "$.conversation_parts.conversation_parts[1].email_message_metadata: None is not of type 'object'"
    relation = (
        "$.custom_attributes['TOPdesk asset']: {'type': 'Asset.list', 'instances': [{'id': '23'}]} is not "
        "of type 'integer'"
    )
    both = Violation(
        "response", "GET", "/conversations/7", 200, f"InvalidData: Value {{...}} | {part} | {relation}", True
    )
    assert _covering(both, ex) == "custom-object-attribute-values+part-null-references"
    unknown = Violation(
        "response",
        "GET",
        "/conversations/7",
        200,
        f"InvalidData: Value {{...}} | {part} | $.state: 'weird' is not one of ['open']",
        True,
    )
    assert _covering(unknown, ex) is None
