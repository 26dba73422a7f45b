"""Every rule kind on its own: sources, transforms, policies and conditions."""

from __future__ import annotations

import pytest

from map_topdesk_intercom.rules import (
    INLINE_IMAGE_TEXT,
    Condition,
    FieldError,
    Rule,
    get_path,
    html_to_text,
    render,
    sanitize_html,
    to_unix,
)

RECORD = {
    "id": "p1",
    "number": "I 2209 001",
    "briefDescription": "Printer jams",
    "email": "  Pair.0.Contact@Kiemstra.example ",
    "caller": {"id": "c1", "branch": {"id": "b1", "name": "Utrecht"}},
    "closed": True,
    "invisibleForCaller": False,
    "callDate": "2022-09-07T22:04:24.000+00:00",
    "bad": "07-09-2022 22:04",
    "empty": "",
    "priority": {"name": "P1 - Critical"},
    "memo": '<p>Hi &amp; bye</p><script>alert("x")</script><p><img src="data:image/png;base64,AA" alt="s.png">ok</p>',
}


def value(rule: Rule, record: dict = RECORD, strategies: dict | None = None):
    return rule.evaluate(record, strategies or {"calls": "tickets"})


def test_from_copies_and_renames_nested_paths():
    assert value(Rule(from_="caller.branch.name")) == ("Utrecht", None)
    assert value(Rule(from_="caller.nothing.here")) == (None, None)
    assert get_path({"a": "not an object"}, "a.b") is None


def test_template_strict_and_optional_placeholders():
    assert value(Rule(template="{number} {briefDescription}")) == ("I 2209 001 Printer jams", None)
    assert render("{number} {missing}", RECORD) is None  # a missing {path} empties the whole template
    assert render("{number} {missing?}", RECORD) == "I 2209 001"
    assert render("closed={closed}", RECORD) == "closed=true"


def test_value_is_a_constant():
    assert value(Rule(value="user")) == ("user", None)


def test_first_of_takes_the_first_non_empty_alternative():
    rule = Rule(first_of=[Rule(from_="empty"), Rule(template="x-{missing}"), Rule(from_="number")])
    assert value(rule) == ("I 2209 001", None)


def test_html_text_drops_scripts_and_keeps_line_breaks():
    assert html_to_text(RECORD["memo"]) == "Hi & bye\nok"
    assert value(Rule(from_="memo", html="text"))[0] == "Hi & bye\nok"


def test_html_sanitize_removes_scripts_and_data_urls():
    clean = sanitize_html(RECORD["memo"])
    assert "<script" not in clean and "alert" not in clean and "data:" not in clean
    assert "<p>Hi &amp; bye</p>" in clean and INLINE_IMAGE_TEXT in clean


def test_an_image_pasted_into_a_memo_is_flagged_where_the_body_is_made():
    """The sanitiser would drop a data: image without a trace: the text says where it was, the record is flagged
    (also when the sanitised text is one alternative of a ``first_of``)."""
    rule = Rule(first_of=[Rule(from_="memo", html="sanitize"), Rule(from_="plain")])
    body, warning = rule.evaluate(RECORD, {})
    assert INLINE_IMAGE_TEXT in body and warning and warning.startswith("1 image(s) pasted into the text")
    assert Rule(from_="plain").evaluate({"plain": "x"}, {})[1] is None


def test_lowercase_for_email_dedupe():
    assert value(Rule(from_="email", lowercase=True)) == ("pair.0.contact@kiemstra.example", None)


def test_email_check_leaves_out_a_broken_address_and_says_so():
    record = {"id": "p9", "email": " Not-An-Email@@Hostile..Example ", "ok": "Ann@Example.COM", "dev": "a@b.test"}
    placeholder = {"template": "topdesk-person-{id}@placeholder.invalid"}
    rule = Rule(from_="email", lowercase=True, email=True, default=placeholder, flag_default="no email")
    got, warning = value(rule, record)
    assert got == "topdesk-person-p9@placeholder.invalid"
    assert warning.startswith("invalid e-mail 'not-an-email@@hostile..example' (") and warning.endswith("; no email")
    assert value(Rule(from_="ok", lowercase=True, email=True), record) == ("ann@example.com", None)
    assert value(Rule(from_="dev", email=True), record) == ("a@b.test", None)  # test workspaces
    left_out, warning = value(Rule(from_="email", email=True), record)
    assert left_out is None and "left out" in warning
    with pytest.raises(FieldError, match=r"invalid e-mail .*a value is required"):
        value(Rule(from_="email", email=True, required=True), record)
    assert Condition(path="email", email=False).holds(record, {})
    assert Condition(path="missing", email=False).holds(record, {})
    assert Condition(path="ok", email=True).holds(record, {})


def test_enum_map_default_and_unmapped_value():
    rule = Rule(from_="closed", enum={True: False, False: True})
    assert value(rule) == (False, None)
    mapped = Rule(from_="priority.name", enum={"P2 - High": "high"}, enum_default="normal")
    assert value(mapped) == ("normal", None)
    with pytest.raises(FieldError, match="not in the enum map"):
        value(Rule(from_="priority.name", enum={"P2 - High": "high"}))


def test_unix_converts_rfc3339_and_flags_invalid_dates():
    assert value(Rule(from_="callDate", unix=True)) == (1662588264, None)
    assert to_unix("2022-09-07T22:04:24Z") == 1662588264
    assert to_unix("2022-09-07T22:04:24") == 1662588264  # naive = UTC
    with pytest.raises(FieldError, match="invalid date '07-09-2022 22:04'"):
        value(Rule(from_="bad", unix=True))


def test_default_constant_template_and_flag():
    assert value(Rule(from_="empty", default="n/a")) == ("n/a", None)
    rule = Rule(from_="empty", default={"template": "topdesk-person-{id}@placeholder.invalid"}, flag_default="x")
    assert value(rule) == ("topdesk-person-p1@placeholder.invalid", "x")
    assert value(Rule(from_="number", default="n/a")) == ("I 2209 001", None)


def test_required_raises_on_empty():
    with pytest.raises(FieldError, match="missing required value"):
        value(Rule(from_="empty", required=True))
    assert value(Rule(from_="number", required=True))[0] == "I 2209 001"


def test_when_conditions():
    present = Condition(path="caller.id", present=True)
    absent = Condition(path="caller.email", present=False)
    equals = Condition(path="invisibleForCaller", equals=False)
    among = Condition(path="priority.name", among=["P1 - Critical", "P2 - High"])
    strategy = Condition(strategy="calls", equals="tickets")
    for condition in (present, absent, equals, among, strategy):
        assert value(Rule(value="yes", when=[condition])) == ("yes", None)
    assert value(Rule(value="yes", when=[Condition(strategy="calls", equals="conversations")])) == (None, None)
    # a rule whose condition does not hold is skipped, even when required
    assert value(Rule(value="x", required=True, when=[Condition(path="empty", present=True)])) == (None, None)


def test_condition_defaults_to_present():
    assert Condition(path="number").holds(RECORD, {}) and not Condition(path="empty").holds(RECORD, {})


# ---------------------------------------------------------------- rule kinds added for the full object map


def test_numeric_path_steps_index_lists():
    record = {"@assignments": {"persons": [{"person": {"name": "Ann"}}, {"person": {"name": "Bob"}}]}}
    assert get_path(record, "@assignments.persons.1.person.name") == "Bob"
    assert get_path(record, "@assignments.persons.5.person.name") is None
    assert value(Rule(template="{@assignments.persons.0.person.name} et al."), record) == ("Ann et al.", None)


def test_join_concatenates_the_non_empty_parts_with_a_separator():
    rule = Rule(
        join=[Rule(template="Permissions of {number}:"), Rule(from_="empty"), Rule(from_="priority.name")],
        separator=" ",
    )
    assert value(rule) == ("Permissions of I 2209 001: P1 - Critical", None)
    assert value(Rule(join=[Rule(from_="empty"), Rule(from_="nothing")])) == (None, None)


def test_template_escape_html_escapes_the_values_not_the_template():
    record = {"cause": "a < b & <script>x</script>"}
    rule = Rule(template="<p>{cause}</p>", escape="html")
    assert value(rule, record) == ("<p>a &lt; b &amp; &lt;script&gt;x&lt;/script&gt;</p>", None)


def test_object_builds_a_json_object_and_as_list_wraps_it():
    rule = Rule(
        object={
            "name": Rule(from_="file"),
            "content_type": Rule(from_="file", mimetype=True),
            "data": Rule(from_="data"),
            "missing": Rule(from_="nothing"),
        },
        as_list=True,
    )
    assert value(rule, {"file": "scan.PDF", "data": "QUJD"}) == (
        [{"name": "scan.PDF", "content_type": "application/pdf", "data": "QUJD"}],
        None,
    )
    assert value(Rule(from_="file", mimetype=True), {"file": "blob.unknownext"}) == ("application/octet-stream", None)
    assert value(Rule(object={"a": Rule(from_="nothing")}, as_list=True), {}) == (None, None)


def test_flags_lists_the_boolean_fields_that_are_true():
    record = {"installer": True, "problemManager": False, "changeCoordinator": True, "stockManager": None}
    rule = Rule(flags=["installer", "problemManager", "changeCoordinator", "stockManager"])
    assert value(rule, record) == (["installer", "changeCoordinator"], None)
    assert value(Rule(flags=["problemManager"]), record) == (None, None)


def test_details_lists_the_remaining_top_level_fields():
    record = {
        "id": "a1",
        "name": "CAR-1",
        "@status": "OK",
        "make": {"id": "m", "name": "Renault"},
        "mileage": 12.0,
        "seats": None,
        "tags": ["x"],
        "issued": False,
        "plate": "V-644-XS",
    }
    assert value(Rule(details=["id", "name"]), record) == (
        "issued: false\nmake: Renault\nmileage: 12\nplate: V-644-XS",
        None,
    )
    assert value(Rule(details=["id", "name", "make", "mileage", "issued", "plate"]), record) == (None, None)


def test_lists_render_as_comma_separated_text_in_templates():
    assert (
        render("calls: {linked_calls}", {"linked_calls": ["I 2401 001", "I 2403 017"]})
        == "calls: I 2401 001, I 2403 017"
    )
