"""HTTP Basic auth with an operator login name and application password, as TOPdesk SaaS does it."""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from topdesk_sandbox.errors import unauthorized

ADMIN_PREFIX = "/__sandbox/"


def check_basic(header: str | None, login: str, password: str) -> bool:
    """True when ``Authorization`` carries exactly ``login:password``."""
    if not header or header[:6].lower() != "basic ":
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, sep, secret = decoded.partition(":")
    return bool(sep) and hmac.compare_digest(user, login) and hmac.compare_digest(secret, password)


class BasicAuthMiddleware:
    """Every TOPdesk path needs credentials; the sandbox's own ``/__sandbox/`` admin API does not."""

    def __init__(self, app: ASGIApp, *, login: str, password: str) -> None:
        self.app = app
        self.login = login
        self.password = password

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if not check_basic(header, self.login, self.password):
            await unauthorized()(scope, receive, send)
            return
        await self.app(scope, receive, send)
