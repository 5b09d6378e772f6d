"""Route classes with a body cap other than ``api.body_limit``'s default 64 KiB.

Why a factory: a router picks its cap with ``route_class=capped(N)`` in one place, without a
subclass per router; the cap is enforced while the body streams in (see ``api.body_limit``),
so a client cannot make the API buffer a gigabyte before a handler's own length check.
"""

from __future__ import annotations

from functools import cache

from api.body_limit import LimitedBodyRoute


@cache
def capped(max_body: int) -> type[LimitedBodyRoute]:
    """A ``LimitedBodyRoute`` refusing bodies over ``max_body`` bytes with 413."""
    if max_body <= 0:
        raise ValueError("max_body must be positive")
    return type(f"LimitedBodyRoute{max_body}", (LimitedBodyRoute,), {"max_body": max_body})
