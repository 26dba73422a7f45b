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
from collections import deque

from singer_sdk.exceptions import FatalAPIError

from tap_topdesk.client import TopdeskStream, normalise_datetime, parse_instant

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

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


def overlapping_rows(fetch: Callable[[int], Iterable[dict]], size: int) -> Iterator[dict]:
    """The rows of an offset-paged list, each once, asking on until nothing new comes; each page is read row by row
    (``fetch`` may parse as it reads): only ids are kept, and rows while where a page resumes is not known yet.

    Change 1.4.0 documents only 200 for its lists, also when more follow, so neither the status nor a short page
    (the server may cap the page size) proves the end: a page without new rows does. Each page after the first starts
    ``overlap`` rows early and resumes after the last row already read that it holds: a row deleted (or added) before
    the offset meanwhile shifts the rest, and plain offsets would skip (or repeat) one. A shift larger than the
    overlap fails loudly instead of losing rows. (That the list's default order is stable between two requests is
    assumed: 1.4.0 documents no total sort order for these lists.)
    """
    overlap = max(2, min(20, size // 10))
    offset = 0
    tail: list[t.Any] = []  # ids of the last rows read, oldest first
    while True:
        start = max(0, offset - overlap) if tail else 0
        place = {row_id: n for n, row_id in enumerate(tail)}
        anchor = -1  # the place in ``tail`` of the latest tail row this page holds: the page resumes after it
        held: list[dict] = []  # rows after the anchor so far, while a later tail row may still come
        count = fresh = 0
        last: deque[t.Any] = deque(maxlen=overlap)
        for row in fetch(start):
            count += 1
            last.append(row.get("id"))
            if anchor < len(tail) - 1:  # (a first page has no tail: every row is new)
                found = place.get(row.get("id"), -1)
                if found > anchor:
                    anchor, held = found, []
                else:
                    held.append(row)
                continue
            fresh += 1
            yield row
        if not count:
            return
        if tail and anchor < 0:
            msg = f"the list moved by more than {overlap} rows while it was paged (at row {offset}); run again"
            raise FatalAPIError(msg)
        fresh += len(held)
        yield from held
        if fresh:
            tail = list(last)  # the last rows read: where the next page resumes
        elif count <= overlap:  # only rows already read, no more than the overlap: the end of the list
            return
        offset = start + count


def offset_rows_to_empty(
    stream: TopdeskStream, params: dict[str, t.Any], context: Context | None, size: int
) -> Iterator[dict]:
    """``overlapping_rows`` of ``stream``'s own list (its offset and size parameter names), parsed as read."""
    assert stream.offset_param and stream.size_param
    offset_param, size_param = stream.offset_param, stream.size_param

    def fetch(offset: int) -> Iterator[dict]:
        return stream.stream_page({**params, offset_param: offset, size_param: size}, context).records

    return overlapping_rows(fetch, size)
