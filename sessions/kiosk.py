"""Tablet hand-over: a therapist's browser session locked to one client form.

While the lock is on, every URL except the kiosk's own pages (and logging out) redirects to
the hand-back page, which asks for the therapist's password. A correct password or logging
out (which flushes the session) lifts the lock.
"""

from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

KIOSK_SESSION_KEY = "alliance_kiosk"
KIOSK_URL_NAMES = {"kiosk_form", "kiosk_done", "kiosk_hand_back", "logout"}
# Wrong passwords tolerated on the hand-back page before the therapist is logged out.
MAX_WRONG_PASSWORDS = 5


def kiosk_start(request: HttpRequest, *, link_id: int) -> None:
    """Lock this browser session to the kiosk link, for the logged-in therapist."""
    # A new session key: pages cached under the old cookie are not served back.
    request.session.cycle_key()
    request.session[KIOSK_SESSION_KEY] = {
        "link": link_id,
        "user": request.user.pk,
        "wrong_passwords": 0,
    }


def kiosk_state(session: SessionBase) -> dict | None:
    return session.get(KIOSK_SESSION_KEY)


def kiosk_end(request: HttpRequest) -> None:
    request.session.pop(KIOSK_SESSION_KEY, None)
    request.session.cycle_key()


def kiosk_wrong_password(request: HttpRequest) -> int:
    """Count one wrong password; returns how many there have been."""
    state = request.session[KIOSK_SESSION_KEY]
    state["wrong_passwords"] += 1
    request.session.modified = True
    return state["wrong_passwords"]


class KioskLockMiddleware:
    """Keep a handed-over device on the client form. Goes after AuthenticationMiddleware."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if kiosk_state(request.session) is not None and not self._kiosk_url(request.path_info):
            response = redirect("kiosk_hand_back")
        else:
            response = self.get_response(request)
        # Not kept by the browser either: alliance.security.middleware.NoStoreMiddleware.
        return response

    @staticmethod
    def _kiosk_url(path: str) -> bool:
        try:
            return resolve(path).url_name in KIOSK_URL_NAMES
        except Resolver404:
            return False
