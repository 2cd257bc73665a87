"""A per-IP fixed-window request counter in Django's cache, for the client form endpoints.

Settings: ALLIANCE_FORM_RATE_LIMIT requests per ALLIANCE_FORM_RATE_WINDOW seconds;
ALLIANCE_TRUSTED_PROXIES reverse proxies in front of Django that append to X-Forwarded-For.
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address: behind N trusted proxies, the N-th X-Forwarded-For entry from
    the right (entries further left are written by the client and can be forged)."""
    proxies = settings.ALLIANCE_TRUSTED_PROXIES
    if proxies:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [address for address in forwarded if address]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def rate_limit_exceeded(request: HttpRequest, scope: str) -> bool:
    """Count this request against the client's window; True once the limit is passed."""
    window = settings.ALLIANCE_FORM_RATE_WINDOW
    key = f"ratelimit:{scope}:{client_ip(request)}:{int(time.time() // window)}"
    # add() is a no-op when the key exists, so the window's first request starts the count.
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add() and incr()
        cache.set(key, 1, timeout=window)
        count = 1
    return count > settings.ALLIANCE_FORM_RATE_LIMIT
