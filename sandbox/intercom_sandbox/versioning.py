"""The ``Intercom-Version`` header: which versions exist, the app default, and the shape changes we emulate.

Absent header ⇒ the app's default version (2.16 here, configurable). A value that is not a known version ⇒
400 ``intercom_version_invalid``. Shape differences the migration meets (reference §9.4.3) switch at 2.16: the
reference documents them as 2.14-vs-2.16 and the 2.15 behaviour is unverified, so everything before 2.16 gets the
2.14 shape.
"""

from __future__ import annotations

KNOWN_VERSIONS: tuple[str, ...] = (
    "1.0", "1.1", "1.2", "1.3", "1.4",
    "2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "2.9",
    "2.10", "2.11", "2.12", "2.13", "2.14", "2.15", "2.16",
)  # fmt: skip
PREVIEW = ("Preview", "Unstable")
DEFAULT_VERSION = "2.16"
NEW_SHAPES_SINCE = (2, 16)


def parse(value: str | None, default: str = DEFAULT_VERSION) -> str | None:
    """The effective version, or None when the header names no known version."""
    if value is None or value.strip() == "":
        return default
    value = value.strip()
    if value in KNOWN_VERSIONS:
        return value
    if value in PREVIEW:
        return "Preview"
    return None


def is_preview(version: str) -> bool:
    """Whether the effective version is the Preview one (``Preview`` or ``Unstable`` in the header)."""
    return version == "Preview"


def as_tuple(version: str) -> tuple[int, int]:
    if version == "Preview":
        return (99, 0)
    major, minor = version.split(".")
    return int(major), int(minor)


def new_shapes(version: str) -> bool:
    """True for 2.16+ shapes: string owner_id, priority none..urgent, assignee 0, parent_ids, list custom objects."""
    return as_tuple(version) >= NEW_SHAPES_SINCE
