"""Login lockout beyond django-axes' per-(username, address) count.

Password spraying (one password tried on many usernames) from one address is limited too:
ALLIANCE_LOGIN_ADDRESS_FAILURE_LIMIT failed logins from an address in a window of
ALLIANCE_LOCKOUT_MINUTES refuse every further login from it until the window ends, whatever
the username (django-axes has one failure limit for all its parameter sets, so this count
is ours, in the shared cache). A success does not reset it. Covers every login that goes
through authenticate(): the login page, the admin login and the API token endpoint.
"""

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.translation import gettext as _

from alliance.security.client_address import client_ip
from sessions.ratelimit import window_count, window_hit

# The longest username a User can have: axes stores what it is given in 255 characters.
USERNAME_LENGTH = 150


def _window() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def _name(request: HttpRequest) -> str:
    return f"login-failures:{client_ip(request)}"


def address_locked_out(request: HttpRequest) -> bool:
    """Whether the request's address has used up its failed logins for the window."""
    limit = settings.ALLIANCE_LOGIN_ADDRESS_FAILURE_LIMIT
    return window_count(_name(request), window=_window()) >= limit


@receiver(user_login_failed, dispatch_uid="alliance.security.lockout.count")
def _count_failure(sender, credentials, request=None, **kwargs) -> None:
    if request is not None:
        window_hit(_name(request), window=_window())


class AddressLockoutBackend:
    """First in AUTHENTICATION_BACKENDS: refuses any login from a locked-out address, as
    django-axes' backend refuses a locked-out username (AXES_LOCKOUT_CALLABLE answers)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is not None and address_locked_out(request):
            request.axes_locked_out = True
            request.address_locked_out = True
            raise PermissionDenied("Too many failed logins from this address.")
        return None


def lockout_message(request: HttpRequest) -> str:
    """What a locked-out login is told: the address's lock, or the username's (axes')."""
    minutes = _window() // 60
    if getattr(request, "address_locked_out", False):
        return _(
            "Too many failed logins from your address. Try again in at most %(minutes)d minutes."
        ) % {"minutes": minutes}
    return _(
        "Too many failed logins for this username from your address. Try again in "
        "%(minutes)d minutes, or ask your clinic admin to reset your password."
    ) % {"minutes": minutes}


def axes_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The username django-axes counts (AXES_USERNAME_CALLABLE): as given, cut to the longest
    a User can have, so an over-long one is counted, not written past axes' column."""
    if credentials:
        username = credentials.get("username")
    else:
        data = getattr(request, "data", None) or request.POST
        username = data.get("username")
    return str(username)[:USERNAME_LENGTH] if username is not None else None
