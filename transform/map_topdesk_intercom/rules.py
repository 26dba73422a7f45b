"""Field rules: the small set of rule kinds a map is written in, and how one rule turns a record into a value.

Sources (at most one): ``from`` (a dotted path; a numeric step indexes a list), ``template``
(``"{number} {briefDescription}"``, ``escape: html`` escapes the filled values), ``value`` (a constant), ``first_of``
(alternatives; the first non-empty wins), ``join`` (the non-empty results of several rules, concatenated with
``separator``), ``object`` (a JSON object of sub-rules), ``flags`` (the names of the listed boolean fields that are
true), ``details`` (the record's remaining top-level fields as ``key: value`` lines, for free-form types). Transforms,
applied in this order to a non-empty value: ``html`` (``text`` | ``sanitize``), ``lowercase``, ``mimetype`` (file
name -> content type), ``enum`` (``map`` + optional ``default``), ``unix`` (RFC 3339 -> unix seconds), ``as_list``
(wrap in a one-element list). Check: ``email`` (a value that is not an e-mail address is left out, with a warning:
Intercom keys people by e-mail, so a broken one must not reach it). Policies: ``when`` (the rule only applies if a
condition holds), ``default`` (used when the value is empty; ``flag_default`` also reports it), ``required`` (empty ->
the record is flagged, not output).
"""

from __future__ import annotations

import html as html_lib
import mimetypes
import re
import typing as t
from dataclasses import dataclass, field
from datetime import UTC, datetime

import nh3
from email_validator import EmailNotValidError, validate_email

MISSING: t.Any = object()
PLACEHOLDER = re.compile(r"\{([A-Za-z_@][A-Za-z0-9_.@-]*)(\?)?\}")
HTML_MODES = ("text", "sanitize")
SAFE_URL_SCHEMES = {"http", "https", "mailto"}


class FieldError(Exception):
    """A value the map asks for cannot be produced: the record is flagged with this reason."""


def is_empty(value: t.Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (dict, list)):
        return not value
    return False


def get_path(record: t.Any, path: str) -> t.Any:
    """``caller.branch.id`` -> the nested value, or None when any step is missing; a numeric step indexes a list
    (``@assignments.persons.0.person.name``)."""
    value = record
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit():
            value = value[int(part)] if int(part) < len(value) else None
            continue
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _text(value: t.Any) -> str:
    if isinstance(value, list):  # e.g. a CSV export's linked call numbers
        return ", ".join(_text(v) for v in value if not is_empty(v))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def template_paths(template: str) -> list[str]:
    return [m.group(1) for m in PLACEHOLDER.finditer(template)]


def render(template: str, record: dict, escape: str | None = None) -> str | None:
    """Fill ``{path}`` placeholders; an empty ``{path}`` makes the result None, an empty ``{path?}`` renders ''.
    ``escape="html"`` escapes the filled values (the template itself is trusted HTML)."""
    missing = False

    def fill(match: re.Match) -> str:
        nonlocal missing
        value = get_path(record, match.group(1))
        if is_empty(value):
            if not match.group(2):
                missing = True
            return ""
        text = _text(value)
        return html_lib.escape(text) if escape == "html" else text

    result = PLACEHOLDER.sub(fill, template)
    return None if missing else result.strip()


def to_unix(value: t.Any) -> int:
    """RFC 3339 (or ISO 8601; naive = UTC) -> unix seconds; anything else raises FieldError."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise FieldError(f"invalid date {value!r}: not an RFC 3339 string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(f"invalid date {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


_BLOCK_END = re.compile(r"(?i)<br\s*/?>|</(p|div|li|tr|h[1-6]|blockquote|pre)\s*>")


def invalid_email(value: t.Any) -> str | None:
    """Why ``value`` is not an address Intercom can hold (syntax and a deliverable-looking domain, no DNS lookup;
    ``.test`` domains allowed for test workspaces), or None."""
    try:
        validate_email(str(value), check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        return f"invalid e-mail {value!r} ({exc}): left out"
    return None


def html_to_text(value: str) -> str:
    """HTML -> plain text: scripts/styles dropped, block ends become line breaks, entities decoded."""
    marked = _BLOCK_END.sub("\n", value)
    stripped = nh3.clean(marked, tags=set())
    text = html_lib.unescape(stripped)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


_INLINE_IMAGE = re.compile(r"""(?is)<img\b[^>]*\bsrc\s*=\s*["']?\s*data:[^>]*>""")
INLINE_IMAGE_TEXT = "[an image pasted into the text stays in TOPdesk]"


def sanitize_html(value: str) -> str:
    """HTML safe to send as a part body: no scripts, event handlers or data:/javascript: URLs (ammonia via nh3).
    An image pasted into the text (``<img src="data:...">``, which the sanitiser would drop without a trace) leaves
    a visible note in its place."""
    return nh3.clean(_INLINE_IMAGE.sub(INLINE_IMAGE_TEXT, value), url_schemes=SAFE_URL_SCHEMES).strip()


def inline_images(value: t.Any) -> int:
    """How many images pasted into an HTML text (``data:`` URLs) it holds."""
    return len(_INLINE_IMAGE.findall(value)) if isinstance(value, str) else 0


def content_type(file_name: str) -> str:
    """The MIME type Intercom's ``attachment_files`` need, guessed from the file name (TOPdesk stores none)."""
    guessed, _ = mimetypes.guess_type(file_name, strict=False)
    return guessed or "application/octet-stream"


def details_text(record: dict, exclude: t.Collection[str]) -> str | None:
    """The record's top-level fields not in ``exclude`` as sorted ``key: value`` lines: a free-form type's own
    fields (asset card fields differ per template) kept readable in one text attribute. Named objects give their
    name; lists and other objects are left out."""
    lines = []
    for key in sorted(record):
        value = record[key]
        if key in exclude or key.startswith("@") or is_empty(value):
            continue
        if isinstance(value, dict):
            value = value.get("name")
            if is_empty(value):
                continue
        if isinstance(value, (dict, list)):
            continue
        lines.append(f"{key}: {_text(value)}")
    return "\n".join(lines) or None


@dataclass
class Condition:
    """``{path: X, present: true|false}``, ``{path: X, email: true|false}`` (holds an e-mail address or not),
    ``{path: X, equals: V}``, ``{path: X, in: [..]}`` or ``{strategy: NAME, equals: V}``."""

    path: str | None = None
    strategy: str | None = None
    present: bool | None = None
    equals: t.Any = MISSING
    among: list | None = None
    email: bool | None = None

    def holds(self, record: dict, strategies: t.Mapping[str, str]) -> bool:
        actual = strategies.get(self.strategy) if self.strategy else get_path(record, self.path or "")
        if self.present is not None:
            return (not is_empty(actual)) == self.present
        if self.email is not None:
            return (not is_empty(actual) and invalid_email(str(actual).strip()) is None) == self.email
        if self.equals is not MISSING:
            return actual == self.equals
        if self.among is not None:
            return actual in self.among
        return not is_empty(actual)


def all_hold(conditions: list[Condition], record: dict, strategies: t.Mapping[str, str]) -> bool:
    return all(c.holds(record, strategies) for c in conditions)


@dataclass
class Rule:
    """One field rule (see the module docstring); ``line`` is where it is in the map file."""

    line: int = 0
    from_: str | None = None
    template: str | None = None
    value: t.Any = MISSING
    first_of: list[Rule] | None = None
    join: list[Rule] | None = None
    separator: str = ""
    object: dict[str, Rule] | None = None
    flags: list[str] | None = None
    details: list[str] | None = None  # the excluded keys
    escape: str | None = None
    html: str | None = None
    lowercase: bool = False
    email: bool = False
    mimetype: bool = False
    as_list: bool = False
    enum: dict | None = None
    enum_default: t.Any = MISSING
    unix: bool = False
    when: list[Condition] = field(default_factory=list)
    default: t.Any = MISSING
    flag_default: str | None = None
    required: bool = False

    def source_value(self, record: dict, strategies: t.Mapping[str, str], notes: list[str] | None = None) -> t.Any:
        """The value before transforms; the warnings of the nested rules it used go to ``notes``."""
        notes = [] if notes is None else notes
        if self.from_ is not None:
            return get_path(record, self.from_)
        if self.template is not None:
            return render(self.template, record, self.escape)
        if self.value is not MISSING:
            return self.value
        if self.first_of is not None:
            for alternative in self.first_of:
                value, warning = alternative.evaluate(record, strategies)
                if not is_empty(value):
                    notes += [warning] if warning else []
                    return value
        if self.join is not None:
            evaluated = [rule.evaluate(record, strategies) for rule in self.join]
            notes += [warning for _, warning in evaluated if warning]
            return self.separator.join(_text(part) for part, _ in evaluated if not is_empty(part)) or None
        if self.object is not None:
            built = {name: rule.evaluate(record, strategies) for name, rule in self.object.items()}
            notes += [warning for _, warning in built.values() if warning]
            return {name: value for name, (value, _) in built.items() if value is not None} or None
        if self.flags is not None:
            return [path for path in self.flags if get_path(record, path) is True] or None
        if self.details is not None:
            return details_text(record, self.details)
        return None

    def transform(self, value: t.Any) -> t.Any:
        if self.html is not None and isinstance(value, str):
            value = html_to_text(value) if self.html == "text" else sanitize_html(value)
        if self.lowercase and isinstance(value, str):
            value = value.strip().lower()
        if self.mimetype and isinstance(value, str):
            value = content_type(value)
        if self.enum is not None and not is_empty(value):
            if value in self.enum:
                value = self.enum[value]
            elif _text(value) in self.enum:
                value = self.enum[_text(value)]
            elif self.enum_default is not MISSING:
                value = self.enum_default
            else:
                raise FieldError(f"value {value!r} is not in the enum map and the enum has no default")
        if self.unix and not is_empty(value):
            value = to_unix(value)
        if self.as_list and not is_empty(value):
            value = [value]
        return value

    def evaluate(self, record: dict, strategies: t.Mapping[str, str]) -> tuple[t.Any, str | None]:
        """(value, warning): the warning says what the record is output with instead of its own value (a rejected
        e-mail, a flagged default). Raises FieldError when a required value is missing or a transform fails."""
        if not all_hold(self.when, record, strategies):
            return None, None
        notes: list[str] = []
        value = self.source_value(record, strategies, notes)
        images = inline_images(value) if self.html == "sanitize" else 0
        if not is_empty(value):
            value = self.transform(value)
        rejected = invalid_email(value) if self.email and not is_empty(value) else None
        if rejected:
            value = None
            notes.append(rejected)
        if images:
            notes.append(
                f"{images} image(s) pasted into the text (data: URL) not migrated: Intercom takes images as "
                "files or public URLs; a note in the text marks each place, the image stays in TOPdesk"
            )
        if is_empty(value) and self.default is not MISSING:
            default = self.default
            if isinstance(default, dict) and set(default) == {"template"}:
                default = render(default["template"], record, self.escape)
            value = default
            if self.flag_default:
                notes.append(self.flag_default)
        if is_empty(value) and self.required:
            raise FieldError(f"{rejected}; a value is required" if rejected else "missing required value")
        return (None if is_empty(value) else value), "; ".join(notes) or None
