"""HTTP client for Intercom 2.16: auth, version header, pacing, retries, pagination.

One client is shared by all worker threads of a run: urllib3's pool manager is thread-safe (its connection pool is
sized to the worker count; no cookies are kept, Intercom's API does not use them). urllib3 rather than requests'
Session: the same connection pool without requests' per-request work (settings merged, hooks, cookies, a Response
built), which was a third of the client's CPU, and the target is CPU-bound when several apps' budgets add up.
Every send passes the shared :class:`~target_intercom.pacer.Pacers`, so the workers together stay within Intercom's
per-window budget: with several access tokens (private apps of one workspace), each app's and the workspace's. The
tokens live only in the client's private list and in each request's headers: they never appear in logs, exception
messages or reprs.
"""

from __future__ import annotations

import json as jsonlib
import logging
import os
import threading
import time
import typing as t
from collections.abc import Iterator, Mapping, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit

import backoff
import certifi
import requests
import urllib3
from urllib3.exceptions import ConnectTimeoutError, LocationValueError

from target_intercom.pacer import WORKSPACE_LIMIT_PER_MINUTE, Pacers

LOGGER = logging.getLogger("target_intercom.client")

#: Answers that mean "try again later"; they may still have been applied (Intercom can fail after writing).
RETRY_STATUSES = frozenset({500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Transport failures worth a retry: urllib3's (refused or reset connections, timeouts, a cut body: ProtocolError,
#: an undecodable one), not a malformed URL.
TRANSIENT_ERRORS = (urllib3.exceptions.HTTPError,)


class IntercomError(Exception):
    """A request that did not succeed.

    ``status`` is the HTTP status (None for a connection failure), ``code`` Intercom's error code from the error
    envelope (``errors[0].code``), ``message`` its message, ``request_id`` the envelope's ``request_id``.
    ``ambiguous`` is True when the request may have been applied by Intercom although no success answer arrived
    (connection broken after the request was sent, a 5xx on a non-idempotent request, retries exhausted): the caller
    must check Intercom before sending it again.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        ambiguous: bool = False,
        body: t.Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.ambiguous = ambiguous
        self.body = body

    def __repr__(self) -> str:
        return (
            f"IntercomError(status={self.status!r}, code={self.code!r}, message={self.message!r}, "
            f"request_id={self.request_id!r}, ambiguous={self.ambiguous!r})"
        )


def _nothing_sent(exc: Exception) -> bool:
    """True when the connection was never established (refused, DNS, connect timeout): no byte left this host."""
    return isinstance(exc, ConnectTimeoutError)  # NewConnectionError and NameResolutionError are ones too


def _url(api_url: str, path: str, params: t.Mapping[str, t.Any] | None) -> str:
    """The request's URL; ``params`` as requests encodes them (lists repeat their key, None values are left out)."""
    url = f"{api_url}/{path.lstrip('/')}"
    query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True) if params else ""
    return f"{url}{'&' if '?' in url else '?'}{query}" if query else url


def _items(body: dict) -> list:
    """The records of a list answer: ``data``, or the key its type names (``admin.list`` → ``admins``)."""
    if isinstance(body.get("data"), list):
        return body["data"]
    kind = body.get("type")
    if isinstance(kind, str) and kind.endswith(".list") and isinstance(body.get(kind[:-5] + "s"), list):
        return body[kind[:-5] + "s"]
    lists = [value for value in body.values() if isinstance(value, list)]
    if len(lists) == 1:
        return lists[0]
    raise IntercomError(f"no list of records in the answer (keys: {', '.join(sorted(body))})", body=body)


def _next_params(pages: t.Any) -> dict[str, t.Any] | None:
    """Query parameters for the next page from ``pages.next`` (cursor object, page object, URL or page number)."""
    following = pages.get("next") if isinstance(pages, dict) else None
    if not following:
        return None
    if isinstance(following, dict):
        if following.get("starting_after"):
            return {"starting_after": following["starting_after"]}
        if following.get("page"):
            return {key: following[key] for key in ("page", "per_page") if following.get(key)}
        return None
    if isinstance(following, str):
        query = dict(parse_qsl(urlsplit(following).query))
        return query or ({"page": following} if following.isdigit() else None)
    if isinstance(following, int) and not isinstance(following, bool):
        return {"page": following}
    return None


def access_tokens(config: Mapping[str, t.Any]) -> list[str]:
    """The tokens a configuration names: ``access_token``, then ``access_tokens`` (several private apps of one
    workspace), each once, in that order."""
    tokens = [config.get("access_token"), *(config.get("access_tokens") or [])]
    return list(dict.fromkeys(token for token in tokens if token))


class IntercomClient:
    """One client per run, shared by all worker threads (thread-safe)."""

    #: Backoff before a retry of a 5xx or connection failure: full jitter over 0.5, 1, 2, … s, at most 30 s.
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    #: 429s tolerated for one request (each waits for the window's reset) before giving up.
    max_throttled: int = 10

    def __init__(
        self,
        api_url: str,
        access_token: str | Sequence[str],
        *,
        workspace_rate_limit: int | None = WORKSPACE_LIMIT_PER_MINUTE,
        version: str = "2.16",
        max_retries: int = 3,
        timeout: float = 60.0,
        concurrency: int = 32,
        logger: t.Any = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.version = version
        self.max_retries = max(int(max_retries), 0)
        self.timeout = timeout
        self.concurrency = concurrency
        self.logger = logger or LOGGER
        tokens = [access_token] if isinstance(access_token, str) else list(access_token)
        if not tokens:
            raise ValueError("no Intercom access token")
        self._authorizations = [f"Bearer {token}" for token in tokens]
        #: one pacer per token (private app), within the workspace's limit (requests per minute; None: no cap)
        self.pacer = Pacers(len(tokens), workspace_per_minute=workspace_rate_limit)
        self.retries = 0
        self._retries_lock = threading.Lock()
        self._headers = {"Intercom-Version": version, "Accept": "application/json", "User-Agent": "target-intercom"}
        # The environment (HTTPS_PROXY/NO_PROXY, a CA bundle) is read once, here; ~/.netrc is never consulted (it
        # would replace the Bearer token). Retries and redirects are ours (urllib3 would retry non-idempotent
        # requests blindly); one pool slot per worker.
        proxies = requests.utils.get_environ_proxies(self.api_url)
        proxy = proxies.get(urlsplit(self.api_url).scheme) or proxies.get("all")
        pool: dict[str, t.Any] = {
            "num_pools": 4,
            "maxsize": max(concurrency, 10),
            "retries": False,
            "ca_certs": os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where(),
        }
        self._pool = urllib3.ProxyManager(proxy, **pool) if proxy else urllib3.PoolManager(**pool)
        self._timeout = urllib3.Timeout(timeout)

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any], **kwargs: t.Any) -> IntercomClient:
        """A client with the target's settings (``api_url``, ``access_token``/``access_tokens``,
        ``workspace_rate_limit``, ``intercom_version``, ``max_retries``): the load, the rollback and the project CLI
        talk to Intercom the same way."""
        return cls(
            config.get("api_url") or "https://api.intercom.io",
            access_tokens(config),
            workspace_rate_limit=int(config.get("workspace_rate_limit") or WORKSPACE_LIMIT_PER_MINUTE),
            version=config.get("intercom_version") or "2.16",
            max_retries=int(config.get("max_retries", 3)),
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"IntercomClient({self.api_url!r}, version={self.version!r}, apps={self.apps})"

    @property
    def apps(self) -> int:
        """How many private apps (access tokens) share the load."""
        return len(self._authorizations)

    @property
    def stats(self) -> dict[str, t.Any]:
        """Pacer counters (sent, 429s, per-window counts, seconds waited) plus retries of 5xx/connection errors."""
        return {**self.pacer.snapshot(), "retries": self.retries}

    def request(
        self,
        method: str,
        path: str,
        *,
        json: t.Any = None,
        params: dict | None = None,
        idempotent: bool | None = None,
        version: str | None = None,
        app: int | None = None,
    ) -> dict:
        """Send one request through the pacer; return the JSON body (``{}`` for an empty body). ``app``: with that
        token (index in the configured order) rather than whichever app has budget.

        ``idempotent`` defaults to True for GET/PUT/DELETE and False for POST. 429 is always retried (it was not
        applied) after waiting for the window's reset; 5xx and connection errors are retried with exponential backoff
        and jitter only when idempotent, up to ``max_retries``; otherwise IntercomError(ambiguous=True).
        4xx other than 429 raise IntercomError at once.
        """
        return self._send(method, path, json=json, params=params, idempotent=idempotent, version=version, app=app)

    def paginate(self, path: str, *, params: dict | None = None) -> Iterator[dict]:
        """Every item of a GET list (``data`` with ``pages.next`` cursor or page URL), following the pages."""
        for items, _ in self.pages(path, params=params):
            yield from items

    def search(self, path: str, query: dict, *, per_page: int = 150) -> Iterator[dict]:
        """Every item of ``POST {path}`` with ``{"query": query, "pagination": {...}}`` (contacts/tickets/conversations
        search), following ``pages.next.starting_after``."""
        for items, _ in self.pages(path, search=query, per_page=per_page):
            yield from items

    def pages(
        self,
        path: str,
        *,
        method: str = "GET",
        params: dict | None = None,
        search: dict | None = None,
        per_page: int = 150,
        after: dict | None = None,
    ) -> Iterator[tuple[list[dict], dict | None]]:
        """A list page by page, each with what the next one needs (None after the last), so a caller can keep it and
        resume there (``after``). A list endpoint (``method`` with ``params``: ``pages.next`` as a cursor, a page
        object, a URL or a number), or a search (``search``: the query, POSTed with ``pagination``). A server
        handing out the same page again is an error, not an endless loop."""
        seen: set[tuple] = set()
        following: dict | None = dict(after or {})
        while following is not None:
            if search is not None:
                pagination = {"per_page": per_page, **following}
                body = self._send(
                    "POST", path, json={"query": search, "pagination": pagination}, idempotent=True, read_only=True
                )
                cursor = (body.get("pages") or {}).get("next")
                cursor = cursor.get("starting_after") if isinstance(cursor, dict) else None
                # the same cursor again ends a search (as an empty one does)
                nxt = {"starting_after": cursor} if cursor and cursor != following.get("starting_after") else None
            else:
                query = {k: v for k, v in (params or {}).items() if k not in ("starting_after", "page")}
                query.update(following)
                body = self._send(method, path, params=query, idempotent=True, read_only=True)
                nxt = _next_params(body.get("pages"))
            marker = tuple(sorted((key, str(value)) for key, value in (nxt or {}).items()))
            if nxt is not None and (marker in seen or nxt == following):
                raise IntercomError(f"{method} {path}: pagination repeats a page ({nxt})", body=body)
            seen.add(marker)
            yield _items(body), nxt
            following = nxt

    def close(self) -> None:
        self._pool.clear()

    def __enter__(self) -> IntercomClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one request with its retries --------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: t.Any = None,
        params: dict | None = None,
        idempotent: bool | None = None,
        version: str | None = None,
        read_only: bool | None = None,
        app: int | None = None,
    ) -> dict:
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        if read_only is None:
            read_only = method in READ_ONLY_METHODS
        url = _url(self.api_url, path, params)
        base = {**self._headers, "Intercom-Version": version} if version else self._headers
        body = None
        if json is not None:  # encoded once for every try; NaN is not JSON (raises before anything is sent)
            body = jsonlib.dumps(json, allow_nan=False).encode()
            base = {**base, "Content-Type": "application/json"}
        waits = backoff.expo(factor=self.backoff_factor, max_value=self.backoff_max)
        next(waits)  # the generator's first value is a priming 0
        failures = throttled = 0
        while True:
            sender, sent_at = self.pacer.acquire(app)
            headers = {**base, "Authorization": self._authorizations[sender]}
            started = time.monotonic()
            try:
                response = self._pool.request(
                    method, url, body=body, headers=headers, timeout=self._timeout, redirect=False
                )
            except BaseException as exc:
                self.pacer.release(sender, sent_at, None, None)
                if not isinstance(exc, TRANSIENT_ERRORS) or isinstance(exc, LocationValueError):
                    raise  # a bad URL, an interrupt
                elapsed = (time.monotonic() - started) * 1000
                self.logger.debug("%s %s -> %s in %.0f ms", method, path, type(exc).__name__, elapsed)
                sent = not _nothing_sent(exc)
                reason = f"{type(exc).__name__} {'after' if sent else 'before'} the request was sent"
                if sent and not idempotent:
                    raise IntercomError(f"{method} {path}: {reason}; it may have been applied", ambiguous=True) from exc
                if failures >= self.max_retries:
                    raise IntercomError(
                        f"{method} {path}: {reason}; {failures} retries exhausted", ambiguous=sent and not read_only
                    ) from exc
                failures += 1
                self._pause(waits, method, path, reason, failures)
                continue
            workspace_limited = self.pacer.release(sender, sent_at, response.headers, response.status)
            status = response.status
            self.logger.debug("%s %s -> %d in %.0f ms", method, path, status, (time.monotonic() - started) * 1000)
            if status < 300:
                return self._json(response, method, path, read_only)
            error = self._error(response)
            if status == 429:
                throttled += 1
                if throttled > self.max_throttled:
                    raise error
                self.logger.warning(
                    "%s %s: 429, %s rate limit exceeded, waiting for the window reset (%d/%d)",
                    method,
                    path,
                    "the workspace's" if workspace_limited else "the app's",
                    throttled,
                    self.max_throttled,
                )
                if "X-RateLimit-Reset" not in response.headers:  # the pacer cannot know when to go on
                    time.sleep(1.0)
                continue
            if status in RETRY_STATUSES and idempotent and failures < self.max_retries:
                failures += 1
                self._pause(waits, method, path, f"{status} {error.code or ''} {error.message}".strip(), failures)
                continue
            if status >= 500:
                error.ambiguous = not read_only
            raise error

    def _pause(self, waits: Iterator[float], method: str, path: str, reason: str, failure: int) -> None:
        delay = backoff.full_jitter(next(waits))
        with self._retries_lock:
            self.retries += 1
        self.logger.warning("%s %s: %s; retry %d/%d in %.2f s", method, path, reason, failure, self.max_retries, delay)
        time.sleep(delay)

    @staticmethod
    def _json(response: urllib3.BaseHTTPResponse, method: str, path: str, read_only: bool) -> dict:
        if not response.data:
            return {}
        try:
            return jsonlib.loads(response.data)
        except ValueError:
            raise IntercomError(
                f"{method} {path}: answer {response.status} is not JSON",
                status=response.status,
                ambiguous=not read_only,
                body=response.data[:1000].decode("utf-8", "replace"),
            ) from None

    @staticmethod
    def _error(response: urllib3.BaseHTTPResponse) -> IntercomError:
        """IntercomError from the ``error.list`` envelope (or the odd ``{"type": "error", "message"}`` body)."""
        try:
            body: t.Any = jsonlib.loads(response.data)
        except ValueError:
            body = response.data[:1000].decode("utf-8", "replace")
        code = message = request_id = None
        if isinstance(body, dict):
            request_id = body.get("request_id")
            errors = body.get("errors")
            first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else body
            code, message = first.get("code"), first.get("message")
        return IntercomError(
            str(message or f"HTTP {response.status} {response.reason}"),
            status=response.status,
            code=code,
            request_id=request_id,
            body=body,
        )
