"""The client's network address, as the audit log, the lockout and the rate limits see it.

ALLIANCE_TRUSTED_PROXIES reverse proxies in front of Django append to X-Forwarded-For
(0 by default: REMOTE_ADDR, and a client's X-Forwarded-For is ignored).
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address: behind N trusted proxies, the N-th X-Forwarded-For entry from
    the right (entries further left are written by the client and can be forged)."""
    proxies = settings.ALLIANCE_TRUSTED_PROXIES
    if proxies:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [address for address in forwarded if address]
        if len(forwarded) >= proxies and _is_address(forwarded[-proxies]):
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
