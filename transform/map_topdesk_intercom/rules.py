"""Field rules: the small set of rule kinds a map is written in, and how one rule turns a record into a value.

Sources (at most one): ``from`` (a dotted path), ``template`` (``"{number} {briefDescription}"``), ``value`` (a
constant), ``first_of`` (alternatives; the first non-empty wins). Transforms, applied in this order to a non-empty
value: ``html`` (``text`` | ``sanitize``), ``lowercase``, ``enum`` (``map`` + optional ``default``), ``unix``
(RFC 3339 -> unix seconds). Policies: ``when`` (the rule only applies if a condition holds), ``default`` (used when
the value is empty; ``flag_default`` also reports it), ``required`` (empty -> the record is flagged, not output).
"""

from __future__ import annotations

import html as html_lib
import re
import typing as t
from dataclasses import dataclass, field
from datetime import UTC, datetime

import nh3

MISSING: t.Any = object()
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)(\?)?\}")
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
    """``caller.branch.id`` -> the nested value, or None when any step is missing or not an object."""
    value = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _text(value: t.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def template_paths(template: str) -> list[str]:
    return [m.group(1) for m in PLACEHOLDER.finditer(template)]


def render(template: str, record: dict) -> str | None:
    """Fill ``{path}`` placeholders; an empty ``{path}`` makes the result None, an empty ``{path?}`` renders ''."""
    missing = False

    def fill(match: re.Match) -> str:
        nonlocal missing
        value = get_path(record, match.group(1))
        if is_empty(value):
            if not match.group(2):
                missing = True
            return ""
        return _text(value)

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


def html_to_text(value: str) -> str:
    """HTML -> plain text: scripts/styles dropped, block ends become line breaks, entities decoded."""
    marked = _BLOCK_END.sub("\n", value)
    stripped = nh3.clean(marked, tags=set())
    text = html_lib.unescape(stripped)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line).strip()


def sanitize_html(value: str) -> str:
    """HTML safe to send as a part body: no scripts, event handlers or data:/javascript: URLs (ammonia via nh3)."""
    return nh3.clean(value, url_schemes=SAFE_URL_SCHEMES).strip()


@dataclass
class Condition:
    """``{path: X, present: true|false}``, ``{path: X, equals: V}``, ``{path: X, in: [..]}`` or
    ``{strategy: NAME, equals: V}``."""

    path: str | None = None
    strategy: str | None = None
    present: bool | None = None
    equals: t.Any = MISSING
    among: list | None = None

    def holds(self, record: dict, strategies: t.Mapping[str, str]) -> bool:
        actual = strategies.get(self.strategy) if self.strategy else get_path(record, self.path or "")
        if self.present is not None:
            return (not is_empty(actual)) == self.present
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
    html: str | None = None
    lowercase: bool = False
    enum: dict | None = None
    enum_default: t.Any = MISSING
    unix: bool = False
    when: list[Condition] = field(default_factory=list)
    default: t.Any = MISSING
    flag_default: str | None = None
    required: bool = False

    def source_value(self, record: dict, strategies: t.Mapping[str, str]) -> t.Any:
        if self.from_ is not None:
            return get_path(record, self.from_)
        if self.template is not None:
            return render(self.template, record)
        if self.value is not MISSING:
            return self.value
        if self.first_of is not None:
            for alternative in self.first_of:
                value, _ = alternative.evaluate(record, strategies)
                if not is_empty(value):
                    return value
        return None

    def transform(self, value: t.Any) -> t.Any:
        if self.html is not None and isinstance(value, str):
            value = html_to_text(value) if self.html == "text" else sanitize_html(value)
        if self.lowercase and isinstance(value, str):
            value = value.strip().lower()
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
        return value

    def evaluate(self, record: dict, strategies: t.Mapping[str, str]) -> tuple[t.Any, bool]:
        """(value, default_used); raises FieldError when a required value is missing or a transform fails."""
        if not all_hold(self.when, record, strategies):
            return None, False
        value = self.source_value(record, strategies)
        if not is_empty(value):
            value = self.transform(value)
        used_default = False
        if is_empty(value) and self.default is not MISSING:
            default = self.default
            if isinstance(default, dict) and set(default) == {"template"}:
                default = render(default["template"], record)
            value, used_default = default, True
        if is_empty(value):
            if self.required:
                raise FieldError("missing required value")
            return None, False
        return value, used_default
