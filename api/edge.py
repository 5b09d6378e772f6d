"""Answers given outside any route (body cap, rate limit, unknown path or method), by path.

Why a seam: the body cap and the rate limiter are generic ASGI middlewares, but which
document a refused client can parse depends on its channel (Open311 clients read only the
GeoReport ``errors`` document). That knowledge belongs to the channel: the app registers
each channel's format for its path prefix once (``api.main``), and a middleware only calls
the ``EdgeAnswers`` it was given, so it never imports a channel's formatting.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import Scope

# (scope, status, error code, message) -> the answer to send.
EdgeAnswer = Callable[[Scope, int, str, str], Response]


class EdgeAnswers:
    """The default answer, and per path prefix the channel formats that replace it."""

    def __init__(self, default: EdgeAnswer) -> None:
        self._default = default
        self._by_prefix: dict[str, EdgeAnswer] = {}

    def register(self, prefix: str, answer: EdgeAnswer) -> None:
        """Answer with ``answer`` for every path under ``prefix`` (``"/open311/"``)."""
        self._by_prefix[prefix] = answer

    def _find(self, path: str) -> EdgeAnswer | None:
        return next((a for p, a in self._by_prefix.items() if path.startswith(p)), None)

    def own_format(self, path: str) -> bool:
        """Whether a channel's format, not the default, answers at ``path`` (for OpenAPI)."""
        return self._find(path) is not None

    def __call__(self, scope: Scope, status: int, error: str, message: str) -> Response:
        answer = self._find(scope.get("path", "")) or self._default
        return answer(scope, status, error, message)
