"""Lists without a documented incremental filter: read whole, emit only what changed since the bookmark.

``/operatorChangeActivities`` (change 1.4.0) documents no ``query``, nor does ``/operatorChanges`` on change API
1.4.0; reservations 2.0.0 document ``query`` but not on ``modificationDate``. These lists still carry their
modification date, so each run reads the whole list and emits the records dated from the lower bound on
(``start_bound``: the bookmark, or ``start_date``). The bookmark (the SDK's progress marker, capped at the sync start)
is all the state kept: a record changed while the list is read is dated after the cap and emitted again by the next
run.
"""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import FatalAPIError

from tap_topdesk.client import TopdeskStream, normalise_datetime, parse_instant

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from singer_sdk.helpers.types import Context


def changed_filter(stream: TopdeskStream, context: Context | None, key: str | None = None) -> Callable[[dict], bool]:
    """Whether a record's ``key`` (default: the replication key) is at or after the lower bound of this run.

    A first sync without ``start_date`` keeps everything (undated and pre-``FLOOR`` records too, as the filtered
    streams read them apart); otherwise an undated record is left out, as a FIQL date filter leaves it out.
    """
    if stream.from_the_floor(context):
        return lambda _record: True
    start, inclusive = stream.start_bound(context)
    field = key or str(stream.replication_key)

    def keep(record: dict) -> bool:
        value = record.get(field)
        fixed = normalise_datetime(value) if isinstance(value, str) else None
        if fixed is None:
            return False
        moment = parse_instant(fixed)
        return moment >= start if inclusive else moment > start

    return keep


def overlapping_pages(fetch: Callable[[int], list[dict]], size: int) -> Iterator[list[dict]]:
    """The rows of an offset-paged list, each once, asking on until nothing new comes.

    Change 1.4.0 documents only 200 for its lists, also when more follow, so neither the status nor a short page
    (the server may cap the page size) proves the end: a page without new rows does. Each page after the first starts
    ``overlap`` rows early and resumes after the last row already read that it holds: a row deleted (or added) before
    the offset meanwhile shifts the rest, and plain offsets would skip (or repeat) one. A shift larger than the
    overlap fails loudly instead of losing rows. (That the list's default order is stable between two requests is
    assumed: 1.4.0 documents no total sort order for these lists.)
    """
    overlap = max(2, min(20, size // 10))
    offset = 0
    tail: list[t.Any] = []
    while True:
        start = max(0, offset - overlap) if tail else 0
        rows = fetch(start)
        if not rows:
            return
        fresh = rows
        if tail:
            ids = [r.get("id") for r in rows]
            anchor = next((ids.index(i) for i in reversed(tail) if i in ids), None)
            if anchor is None:
                msg = f"the list moved by more than {overlap} rows while it was paged (at row {offset}); run again"
                raise FatalAPIError(msg)
            fresh = rows[anchor + 1 :]
        if fresh:
            yield fresh
            tail = [r.get("id") for r in rows[-overlap:]]  # the last rows read: where the next page resumes
        elif len(rows) <= overlap:  # only rows already read, no more than the overlap: the end of the list
            return
        offset = start + len(rows)


def offset_pages_to_empty(
    stream: TopdeskStream, params: dict[str, t.Any], context: Context | None, size: int
) -> Iterator[list[dict]]:
    """``overlapping_pages`` of ``stream``'s own list (its offset and size parameter names)."""
    assert stream.offset_param and stream.size_param
    offset_param, size_param = stream.offset_param, stream.size_param

    def fetch(offset: int) -> list[dict]:
        page = {**params, offset_param: offset, size_param: size}
        return stream.extract(stream.body(stream.get(stream.path, page, context=context)))

    return overlapping_pages(fetch, size)
