"""Checking the sandbox against the Intercom 2.16 OpenAPI description (the checker is for tests: it needs
``openapi-core``; :func:`load_spec` also serves ``documented.py``, which the server runs on every request body).

``OpenAPICaptureMiddleware`` records every API exchange cheaply; ``SpecValidator.check()`` validates the recorded
requests and responses later, off the hot path (so rate-limit timing tests are not slowed down). The only tolerated
differences are in ``ALLOWED_DEVIATIONS`` below, each with its reason.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
import yaml
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox_common.faults import ADMIN_PREFIX

SPEC_PATH = Path(__file__).resolve().parent.parent / "specs" / "intercom" / "intercom-api-2.16.yaml"
SPEC_VERSION = "2.16"
#: the Preview description (``Intercom-Version: Preview``), for the operations only it has (``/contacts/bulk`` …)
PREVIEW_SPEC_PATH = SPEC_PATH.with_name("intercom-api-preview.yaml")
PREVIEW_VERSION = "Preview"
SPEC_HOST = "https://api.intercom.io"


@dataclass
class Exchange:
    method: str
    path: str
    query: list[tuple[str, str]]
    request_headers: dict[str, str]
    request_body: bytes
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    @property
    def version(self) -> str:
        return self.request_headers.get("intercom-version") or SPEC_VERSION

    def response_json(self) -> Any:
        try:
            return orjson.loads(self.response_body)
        except orjson.JSONDecodeError:
            return None


@dataclass
class Violation:
    kind: str  # "request" | "response"
    method: str
    path: str
    status: int
    message: str
    accepted: bool  # the sandbox answered 2xx
    deviation: str | None = None  # name of the allowed deviation that covers it

    def __str__(self) -> str:
        return f"{self.kind} {self.method} {self.path} -> {self.status}: {self.message}"


@dataclass(frozen=True)
class Deviation:
    name: str
    reason: str
    applies: Callable[[Violation, Exchange], bool]


def _only(v: Violation, pattern: str) -> bool:
    """True when every schema error listed in the violation matches ``pattern``."""
    details = [p for p in v.message.split(" | ")[1:] if p.startswith("$")]
    return bool(details) and all(re.search(pattern, d) for d in details)


def _error_status_undeclared(v: Violation, ex: Exchange) -> bool:
    return v.kind == "response" and v.status >= 400 and "Unknown response http status" in v.message


#: a relationship attribute's value as Intercom renders it (``{"type": "<Type>.list", "instances": [...]}``), or an
#: attribute of an instance inside it
RELATIONSHIP_VALUE = (
    r"\.instances\[\d+\]\.custom_attributes(\.|\[)[^:]*: .* is not of type 'string'$"
    r"|custom_attributes(\.|\[)[^:]*: \{'type': '[^']*\.list', 'instances': .* is not of type "
    r"'(string|integer)'$"
)

ALLOWED_DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "duplicate-contact-409",
        "POST/PUT /contacts 409 conflict ('… already exists with id=<id>') is real but not in the released spec "
        "(upstream PR #543); body checked against the error schema",
        lambda v, ex: _error_status_undeclared(v, ex) and v.status == 409 and v.path.startswith("/contacts"),
    ),
    Deviation(
        "rate-limit-429",
        "429 rate_limit_exceeded is documented on the rate-limiting page, not per operation in the spec; body "
        "checked against the error schema",
        lambda v, ex: _error_status_undeclared(v, ex) and v.status == 429,
    ),
    Deviation(
        "undeclared-error-status",
        "the spec lists only some error statuses per operation (e.g. no 404 on GET /tickets/{id}, no 400 for an "
        "unknown Intercom-Version, no 5xx); the reference documents them; body checked against the error schema",
        _error_status_undeclared,
    ),
    Deviation(
        "unknown-path-404",
        "a path (or a path's method) the spec does not describe answers Intercom's 404 not_found envelope (tests of "
        "unknown routes, and of the Preview-only routes asked in 2.16, send these); body checked against the error "
        "schema",
        lambda v, ex: v.kind == "response" and v.status == 404 and _unknown_here(v.message),
    ),
    Deviation(
        "notes-contact-id-integer",
        "POST /contacts/{contact_id}/notes types contact_id as integer, but contact ids are 24-hex strings (the same "
        "spec's own contact examples)",
        lambda v, ex: (
            v.kind == "request"
            and re.fullmatch(r"/contacts/[^/]+/notes", v.path) is not None
            and "contact_id" in v.message
        ),
    ),
    Deviation(
        "update-data-attribute-oneof",
        "PUT /data_attributes/{id}: update_data_attribute_request is a oneOf whose second branch ('other type') has "
        'no constraints, so the documented body {"options": [{"value": ...}]} matches both branches and fails',
        lambda v, ex: (
            v.kind == "request"
            and v.method == "PUT"
            and v.path.startswith("/data_attributes/")
            and "is valid under each of" in v.message
        ),
    ),
    Deviation(
        "conversation-from-id-uuid",
        "POST /conversations declares from.id as format uuid, yet Intercom contact ids are 24-hex (the spec's own "
        "example sends 6762f11b1bb69f9f2193bba3)",
        lambda v, ex: (
            v.kind == "request" and v.path == "/conversations" and _only(v, r"^\$\.from\.id: .* is not a 'uuid'$")
        ),
    ),
    Deviation(
        "search-query-shapes",
        "search_request.query: a group's value is oneOf[array of groups | array of filters], which rejects the mixed "
        "groups the docs and reference §5 use (AND of a filter and an OR group), and value lists integer but not the "
        "float epochs tap-intercom sends",
        lambda v, ex: v.kind == "request" and v.path.endswith("/search") and _only(v, r"^\$\.query[.\[:]"),
    ),
    Deviation(
        "part-null-references",
        "conversation_part.assigned_to and email_message_metadata are null in the spec's own conversation examples "
        "(recorded responses) but their schemas are not nullable",
        lambda v, ex: (
            v.kind == "response"
            and v.status == 200
            and _only(
                v,
                r"conversation_parts\[\d+\]\.(assigned_to|email_message_metadata): "
                r"None (for not nullable|is not of type 'object')",
            )
        ),
    ),
    Deviation(
        "company-lookup-single",
        "GET /companies?company_id= (or ?name=) answers one company (reference §6.4, spec description), but the "
        "operation's 200 schema is company_list",
        lambda v, ex: (
            v.kind == "response"
            and v.path == "/companies"
            and any(k in ("company_id", "name") for k, _ in ex.query)
            and _only(v, r"^\$\.type: 'company' is not one of \['list'\]$")
        ),
    ),
    Deviation(
        "data-attribute-relationship",
        "a contact relationship attribute (to a custom object type, created in the UI) is listed with data_type "
        "'relationship' and a 'reference', the shape the same spec gives conversation attributes; data_attribute's "
        "data_type enum lacks it (upstream PR #431 adds relationship/reference to data attributes)",
        lambda v, ex: (
            v.kind == "response"
            and v.path == "/data_attributes"
            and _only(v, r"^\$\.data\[\d+\]\.data_type: 'relationship' is not one of ")
        ),
    ),
    Deviation(
        "association-id-list",
        "associating custom object instances sends custom_attributes {<relationship>: [<instance id>, ...]} (the "
        "spec's own example 'update a conversation with an association to a custom object instance' sends "
        "order: ['21']), which the custom_attributes schema (string | integer | datetime | instance list) rejects",
        lambda v, ex: (
            v.kind == "request"
            and v.method == "PUT"
            and re.fullmatch(r"/conversations/[^/]+", v.path) is not None
            and _only(v, r"^\$\.custom_attributes(\.|\[)[^:]*: \[[^\]]*\] is not of type '(string|integer|object)'$")
        ),
    ),
    Deviation(
        "custom-object-attribute-values",
        "custom object instance attributes are typed only as strings, yet the spec's own example sends and returns "
        "total_amount: 99.99 (2.17 documents values 'returned with the type of the attribute'); relationship values "
        "are id lists in and <Type>.list objects out, as on contacts and conversations",
        lambda v, ex: (
            _only(
                v,
                rf"^\$\.(data\[\d+\]\.)?custom_attributes(\.|\[)[^:]*: .* is not of type 'string'$"
                rf"|{RELATIONSHIP_VALUE}",
            )
            if v.path.startswith("/custom_object_instances/")
            else re.match(r"/(conversations|tickets|contacts)", v.path) is not None and _only(v, RELATIONSHIP_VALUE)
        ),
    ),
    Deviation(
        "company-attribute-values",
        "company custom_attributes values are typed string only, yet the same schema's example is {paid_subscriber: "
        "true, monthly_spend: 155.5, team_mates: 9} and data attributes are created as boolean/integer/float/date",
        lambda v, ex: (
            (v.path == "/companies" or re.fullmatch(r"/(companies|contacts)/[^/]+(/companies)?", v.path) is not None)
            and _only(v, r"^\$\.(data\[\d+\]\.)?custom_attributes\.[^:]*: .* is not of type 'string'$")
        ),
    ),
    Deviation(
        "custom-object-by-external-id",
        "GET /custom_object_instances/{type}?external_id= is described as returning a single instance, but its 200 "
        "schema is the paginated list (type enum 'list')",
        lambda v, ex: (
            v.kind == "response"
            and v.path.startswith("/custom_object_instances/")
            and any(k == "external_id" for k, _ in ex.query)
            and _only(v, r"^\$\.type: '[^']*' is not one of \['list'\]$")
        ),
    ),
)


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    """The 2.16 spec, parsed once, with its two undeclared ``job_identifier`` path parameters declared."""
    return _declare_job_identifier(yaml.load(SPEC_PATH.read_text(), Loader=yaml.CSafeLoader))


def _declare_job_identifier(spec: dict[str, Any]) -> dict[str, Any]:
    for path in ("/export/reporting_data/{job_identifier}", "/download/reporting_data/{job_identifier}"):
        for operation in spec["paths"].get(path, {}).values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("name") == "job_identifier":
                    parameter["in"] = "path"
    return spec


@lru_cache(maxsize=1)
def load_preview_spec() -> dict[str, Any]:
    """The Preview spec, parsed once (``documented.py`` takes the Preview-only operations' bodies from it)."""
    return _declare_job_identifier(yaml.load(PREVIEW_SPEC_PATH.read_text(), Loader=yaml.CSafeLoader))


class SpecValidator:
    """Collects exchanges; ``check()`` validates what is pending and returns the violations not allowed."""

    _shared: SpecValidator | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        from openapi_core import OpenAPI
        from openapi_schema_validator import OAS30Validator

        spec = load_spec()
        self.openapi = OpenAPI.from_dict(spec)
        self.error_schema = OAS30Validator(spec["components"]["schemas"]["error"])
        self._pending: list[Exchange] = []
        self._lock = threading.Lock()
        self.violations: list[Violation] = []
        self.checked = 0
        #: the Preview description, built the first time a Preview-only operation is exchanged
        self.preview_openapi: Any = None

    @classmethod
    def shared(cls) -> SpecValidator:
        """One validator per process: the spec is 1.3 MB and takes about a second to load."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = SpecValidator()
            return cls._shared

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self._pending.append(exchange)

    def check(self) -> list[Violation]:
        """Validate pending exchanges; returns all violations so far that no deviation allows."""
        with self._lock:
            pending, self._pending = self._pending, []
        for exchange in pending:
            self.violations.extend(self._validate(exchange))
            self.checked += 1
        return [v for v in self.violations if v.deviation is None and (v.kind == "response" or v.accepted)]

    def _validate_preview(self, ex: Exchange) -> list[Violation]:
        """A Preview-only operation's exchange, against the Preview description (no deviations allowed)."""
        from openapi_core import OpenAPI

        if self.preview_openapi is None:
            self.preview_openapi = OpenAPI.from_dict(load_preview_spec())
        accepted = 200 <= ex.status < 300
        request, response = _mocks(ex)
        found = [
            Violation("request", ex.method, ex.path, ex.status, _describe(error), accepted)
            for error in self.preview_openapi.iter_request_errors(request)
        ]
        for error in self.preview_openapi.iter_response_errors(request, response):
            message = _describe(error)
            body = ex.response_json()
            if (
                "Unknown response http status" in message
                and body is not None
                and body.get("type") == "error.list"
                and not list(self.error_schema.iter_errors(body))
            ):
                continue  # an undocumented error status with the error envelope (EVIDENCE.md)
            found.append(Violation("response", ex.method, ex.path, ex.status, message, accepted))
        return found

    def _validate(self, ex: Exchange) -> list[Violation]:
        if ex.version in ("Preview", "Unstable") and _preview_only(ex.method, ex.path):
            return self._validate_preview(ex)
        if ex.version != SPEC_VERSION:
            # other versions have other shapes (the 2.16 spec describes 2.16 only), but errors share one envelope
            body = ex.response_json() if ex.status >= 400 else None
            if ex.status >= 400 and (body is None or list(self.error_schema.iter_errors(body))):
                return [Violation("response", ex.method, ex.path, ex.status, "error body invalid", False)]
            return []
        accepted = 200 <= ex.status < 300
        request, response = _mocks(ex)
        found: list[Violation] = [
            Violation("request", ex.method, ex.path, ex.status, _describe(error), accepted)
            for error in self.openapi.iter_request_errors(request)
        ]
        for error in self.openapi.iter_response_errors(request, response):
            message = _describe(error)
            if _unknown_here(message) and ex.status >= 400:
                body = ex.response_json()
                problems = (
                    [e.message for e in self.error_schema.iter_errors(body)] if body is not None else ["no JSON body"]
                )
                if body is not None and body.get("type") != "error.list":
                    problems.append("type is not error.list")
                if problems:
                    message = f"{message}; error body invalid: {problems}"
            found.append(Violation("response", ex.method, ex.path, ex.status, message, accepted))
        for violation in found:
            if "error body invalid" not in violation.message:
                violation.deviation = _covering(violation, ex)
        return found


def _preview_only(method: str, path: str) -> bool:
    """Whether a request names an operation only the Preview description has (``POST /contacts/bulk`` …)."""
    from intercom_sandbox.documented import preview_only_operations

    return any(m == method and re.fullmatch(pattern, path) for m, pattern in preview_only_operations())


def _unknown_here(message: str) -> bool:
    """The spec has no such status, path or operation (a Preview-only route asked in 2.16): only the error body
    is checked."""
    return (
        "Unknown response http status" in message
        or "Path not found" in message
        or (message.startswith("Operation ") and " not found for " in message)
    )


def _covering(violation: Violation, ex: Exchange) -> str | None:
    """The allowed deviation(s) covering a violation: one for the whole of it, or, when a response shows several
    known deviations at once (a conversation with null part references *and* relationship values), one per schema
    error; None when any error is not allowed."""
    named = next((d.name for d in ALLOWED_DEVIATIONS if d.applies(violation, ex)), None)
    head, *details = violation.message.split(" | ")
    errors = [d for d in details if d.startswith("$")]
    if named or len(errors) < 2:
        return named
    names = []
    for error in errors:
        alone = replace(violation, message=f"{head} | {error}")
        name = next((d.name for d in ALLOWED_DEVIATIONS if d.applies(alone, ex)), None)
        if name is None:
            return None
        names.append(name)
    return "+".join(sorted(set(names)))


def _multi(query: list[tuple[str, str]]) -> Any:
    from werkzeug.datastructures import ImmutableMultiDict

    return ImmutableMultiDict(query)


def _leaves(error: Any) -> list[Any]:
    """The innermost jsonschema errors (oneOf/anyOf failures carry their reasons in ``context``)."""
    context = getattr(error, "context", None)
    if not context:
        return [error]
    return [leaf for sub in context for leaf in _leaves(sub)]


def _describe(error: Exception) -> str:
    parts = [str(error)]
    cause = error.__cause__
    for inner in getattr(cause, "schema_errors", None) or getattr(error, "schema_errors", None) or []:
        parts.extend(f"{getattr(leaf, 'json_path', '$')}: {getattr(leaf, 'message', leaf)}" for leaf in _leaves(inner))
    if cause is not None and not getattr(cause, "schema_errors", None):
        parts.append(str(cause))
    return " | ".join(parts)


class OpenAPICaptureMiddleware:
    """Outermost middleware: copies each API request/response pair to the validator (admin paths excluded)."""

    def __init__(self, app: ASGIApp, validator: SpecValidator) -> None:
        self.app = app
        self.validator = validator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        exchange = Exchange(
            method=scope["method"],
            path=re.sub(r"/{2,}", "/", scope["path"]),
            query=parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True),
            request_headers=headers,
            request_body=b"",
        )
        chunks: list[bytes] = []
        body_parts: list[bytes] = []

        async def capture_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.response_headers = {
                    k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])
                }
            elif message["type"] == "http.response.body":
                body_parts.append(message.get("body", b""))
                if not message.get("more_body"):  # record before the client can see the end of the response
                    exchange.request_body = b"".join(chunks)
                    exchange.response_body = b"".join(body_parts)
                    self.validator.record(exchange)
            await send(message)

        await self.app(scope, capture_receive, capture_send)  # a reset (exception) is never completed: not recorded


def _mocks(ex: Exchange) -> tuple[Any, Any]:
    """The exchange as openapi-core's request and response."""
    from openapi_core.testing import MockRequest, MockResponse

    request = MockRequest(
        SPEC_HOST,
        ex.method,
        ex.path,
        args=_multi(ex.query),
        headers=ex.request_headers,
        data=ex.request_body or None,
        content_type=ex.request_headers.get("content-type", "application/json"),
    )
    response = MockResponse(
        ex.response_body,
        status_code=ex.status,
        headers=ex.response_headers,
        content_type=ex.response_headers.get("content-type", "application/json"),
    )
    return request, response
