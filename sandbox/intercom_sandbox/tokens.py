"""The Bearer tokens the sandbox accepts: the private apps of its workspace, and apps of another workspace.

Every token of the workspace is one private app with its own rate limiter; all of them share the workspace's limiter.
A token of another workspace ("foreign") answers ``GET /me`` with that other workspace's app, and 401 to everything
else: a sandbox simplification (the real token would reach the other workspace's data, which the sandbox does not
hold). See EVIDENCE.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from intercom_sandbox.ratelimit import RateLimiter, WorkspaceLimiter

#: the paths a foreign token may use (everything else is 401)
FOREIGN_PATHS = frozenset({"/me"})


def foreign_id_code(number: int) -> str:
    """``app.id_code`` of the other workspace's app ``number`` (1-based); 40 characters like the sandbox's own."""
    return f"foreign{number:033d}"


@dataclass(frozen=True)
class TokenApp:
    """What a token stands for: ``label`` ``app1``… (this workspace, token order) or ``foreign1``…; never the token."""

    label: str
    number: int
    foreign: bool
    limiter: RateLimiter


class TokenApps:
    """Token → app, with the workspace limiter (``workspace``) and the other workspace's (``foreign_workspace``)."""

    def __init__(
        self,
        tokens: Sequence[str],
        foreign_tokens: Sequence[str],
        app_per_minute: int,
        workspace_per_minute: int,
        clock: Callable[[], float] | None = None,
    ) -> None:
        everything = [*tokens, *foreign_tokens]
        if not tokens:
            raise ValueError("at least one token of the workspace is needed")
        if not all(everything):
            raise ValueError("an empty token")
        if len(set(everything)) != len(everything):
            raise ValueError("a token is given twice (workspace and foreign tokens must all differ)")
        extra = {} if clock is None else {"clock": clock}
        self.workspace = WorkspaceLimiter(workspace_per_minute)
        #: the other workspace: its own apps and its own shared budget (not in ``/__sandbox/stats``)
        self.foreign_workspace = WorkspaceLimiter(workspace_per_minute)
        self.by_token: dict[bytes, TokenApp] = {}
        for number, token in enumerate(tokens, start=1):
            limiter = self.workspace.add_app(app_per_minute, **extra)
            self.by_token[token.encode()] = TokenApp(f"app{number}", number, False, limiter)
        for number, token in enumerate(foreign_tokens, start=1):
            limiter = self.foreign_workspace.add_app(app_per_minute, **extra)
            self.by_token[token.encode()] = TokenApp(f"foreign{number}", number, True, limiter)

    def get(self, token: bytes) -> TokenApp | None:
        return self.by_token.get(token)

    def reset_counters(self) -> None:
        self.workspace.reset_counters()
        self.foreign_workspace.reset_counters()
