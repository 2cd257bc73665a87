"""Login lifetime and the second factor, checked on every request.

SessionLifetimeMiddleware: a login ends after settings.ALLIANCE_IDLE_MINUTES without a
request (idle timeout) and settings.ALLIANCE_SESSION_HOURS after signing in (absolute
lifetime), whatever the activity. Times are kept in the session; the last-seen time is
written at most once a minute, so a busy user's session is not saved on every request.

NoStoreMiddleware: clinician pages and every error answer carry Cache-Control: no-store.

TwoFactorMiddleware: a signed-in user who has an authenticator app, whose clinic requires
one, or who is site staff (the admin site reaches every clinic's data), reaches no page but
the two-factor pages until they enter a code.
"""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import add_never_cache_headers
from django_otp import user_has_device

from alliance.api.errors import error_body
from alliance.security.two_factor import two_factor_required

LOGIN_AT = "alliance_login_at"
SEEN_AT = "alliance_seen_at"
HAS_DEVICE = "alliance_two_factor_device"
# Seconds between writes of the last-seen time (the idle timeout's resolution).
SEEN_RESOLUTION = 60


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


@receiver(user_logged_in, dispatch_uid="alliance.security.login_stamp")
def _stamp_login(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is None:
        return
    now = int(time.time())
    session[LOGIN_AT] = now
    session[SEEN_AT] = now
    # One query at login: whether the user has a confirmed authenticator app.
    session[HAS_DEVICE] = user_has_device(user, confirmed=True)


def login_ended(session) -> str | None:
    """Why the session's login has run out ("idle" or "expired"), or None if it has not."""
    now = time.time()
    login_at = session.get(LOGIN_AT)
    if login_at is None:
        return None
    if now - login_at > settings.ALLIANCE_SESSION_HOURS * 3600:
        return "expired"
    if now - session.get(SEEN_AT, login_at) > settings.ALLIANCE_IDLE_MINUTES * 60:
        return "idle"
    return None


class NoStoreMiddleware:
    """First in MIDDLEWARE, so it sees every answer, the error pages of the other middleware
    too. A signed-in user's answers are never kept by the browser or a cache in between (Back
    on a handed-over tablet cannot bring a clinician page up again), unless they say how to
    be cached (static files); nor is any error answer (400/403/404/429/500, pages and API).
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if response.status_code >= 400 or (signed_in and "Cache-Control" not in response):
            add_never_cache_headers(response)
        return response


class SessionLifetimeMiddleware:
    """Log out an idle or too-old login; goes right after AuthenticationMiddleware."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if SESSION_KEY in session:
            now = int(time.time())
            if LOGIN_AT not in session:  # a login from before these checks: start counting
                session[LOGIN_AT] = session[SEEN_AT] = now
            reason = login_ended(session)
            if reason:
                logout(request)
                if request.method == "GET" and not _is_api(request):
                    login = f"{reverse('login')}?expired={reason}"
                    return redirect_to_login(request.get_full_path(), login)
                # Other requests go on anonymous: a form post is sent to log in, the API
                # answers 401/403.
            elif now - session.get(SEEN_AT, 0) >= SEEN_RESOLUTION:
                session[SEEN_AT] = now
        return self.get_response(request)


# Pages open before the second factor: the two-factor pages themselves, logging out, and
# the client's own form pages (they need no login at all).
TWO_FACTOR_OPEN = {
    "two_factor_setup",
    "two_factor_enrol",
    "two_factor_verify",
    "logout",
    "set_language",
    "client_form",
    "client_form_thanks",
}


def two_factor_step(request: HttpRequest) -> str | None:
    """The page a signed-in user who still owes a second factor must see ("verify" or
    "setup"), or None."""
    user = request.user
    if not user.is_authenticated or user.is_verified():
        return None
    if request.session.get(HAS_DEVICE, False):
        return "verify"
    return "setup" if two_factor_required(user) else None


class TwoFactorMiddleware:
    """Send users who owe a second factor to the setup or verify page. After OTPMiddleware."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        step = two_factor_step(request)
        if step is not None and not self._open(request):
            if _is_api(request):
                message = "Enter the code from your authenticator app first (signed in pages)."
                return JsonResponse(error_body(403, "two_factor_required", message), status=403)
            next_page = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse(f'two_factor_{step}')}?{next_page}")
        return self.get_response(request)

    @staticmethod
    def _open(request: HttpRequest) -> bool:
        # Static files never get here: WhiteNoise (or runserver) serves them first.
        try:
            return resolve(request.path_info).url_name in TWO_FACTOR_OPEN
        except Resolver404:
            return False
