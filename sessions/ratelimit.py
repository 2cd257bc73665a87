"""Fixed-window counters in Django's default cache, the project's one rate-limiting
mechanism: the client form endpoints' limits (per link and per address), the API token
endpoint's throttle and the per-address login-failure limit.

The cache must be shared by every process and count atomically (alliance/security/cache.py): add()
starts a window's count, incr() adds to it, never a get() then set() that two workers race.
Settings: ALLIANCE_FORM_RATE_LIMIT requests on one form link (or one kiosk hand-over) and
ALLIANCE_FORM_ADDRESS_RATE_LIMIT from one address, per ALLIANCE_FORM_RATE_WINDOW seconds;
ALLIANCE_TRUSTED_PROXIES reverse proxies in front of Django that append to X-Forwarded-For
(0 by default: REMOTE_ADDR, and a client's X-Forwarded-For is ignored).
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from alliance.security.client_address import client_ip


def _window_key(name: str, window: int, now: float | None = None) -> str:
    return f"ratelimit:{name}:{int((time.time() if now is None else now) // window)}"


def window_hit(name: str, *, window: int) -> int:
    """Count one hit on ``name`` in the current window of ``window`` seconds; the count."""
    key = _window_key(name, window)
    # add() is a no-op when the key exists, so the window's first hit starts the count.
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # the key expired between add() and incr()
        cache.add(key, 1, timeout=window)
        return 1


def window_count(name: str, *, window: int) -> int:
    """The hits counted on ``name`` in the current window, without adding one."""
    return cache.get(_window_key(name, window), 0)


def window_left(window: int) -> int:
    """Seconds until the current window ends (a Retry-After)."""
    return max(1, int(window - time.time() % window))


def limit_exceeded(name: str, *, limit: int, window: int) -> bool:
    """Count one hit on ``name``; True once it has passed ``limit`` in this window."""
    return window_hit(name, window=window) > limit


def rate_limit_exceeded(request: HttpRequest, scope: str, *, limit: int, window: int) -> bool:
    """Count this request against its address's window; True once the limit is passed."""
    return limit_exceeded(f"{scope}:{client_ip(request)}", limit=limit, window=window)


FORM_SCOPE = "client_form"


def form_rate_limit_exceeded(request: HttpRequest, *, link: str | None) -> bool:
    """Count this request on the client form's two limits; True once either is passed.

    ``link`` names the form link the request is for (a hash of its token, or the kiosk's
    hand-over): one link may be opened ALLIANCE_FORM_RATE_LIMIT times a window, enough for
    a client's reloads and language changes, not for hammering. An address may send
    ALLIANCE_FORM_ADDRESS_RATE_LIMIT, ten times as many: the clients of a clinic share its
    Wi-Fi's one address, and a kiosk hands over one link after another.
    """
    window = settings.ALLIANCE_FORM_RATE_WINDOW
    over = rate_limit_exceeded(
        request, FORM_SCOPE, limit=settings.ALLIANCE_FORM_ADDRESS_RATE_LIMIT, window=window
    )
    if link is not None:
        by_link = f"{FORM_SCOPE}:link:{link}"
        over = (
            limit_exceeded(by_link, limit=settings.ALLIANCE_FORM_RATE_LIMIT, window=window) or over
        )
    return over
