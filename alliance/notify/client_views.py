"""The client's one-click "stop reminders" page: the link every reminder carries.

No login: the link's signed token names the address it was sent to (the contact and when
its consent was recorded); a link sent to an address since replaced or withdrawn is no
longer valid (410) and stops nothing. A GET shows one button and changes
nothing (mail scanners open links); the POST stops the reminders, whether the button sent it
or a mail client's one-click unsubscribe (RFC 8058: List-Unsubscribe-Post, a POST without a
CSRF token, which the signature makes safe). Rate-limited per address like the client form.
The page says nothing clinical: the clinic's name and what happens.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from alliance.clients.contacts import client_contact_stop_reminders
from alliance.models import AccessEvent
from alliance.notify.reminders import stop_token_contact, stop_token_read
from alliance.security.audit import audit_record
from sessions.ratelimit import rate_limit_exceeded

LANGUAGE_CODES = tuple(code for code, _name in settings.LANGUAGES)


def _render(
    request: HttpRequest, template: str, context: dict, *, language: str, status: int = 200
) -> HttpResponse:
    """A client-facing page in the client's language: never cached, no Referer (the URL
    holds the token)."""
    with translation.override(language):
        response = render(request, template, {**context, "token_in_url": True}, status=status)
    response.headers["Content-Language"] = language
    response.headers["Referrer-Policy"] = "no-referrer"
    add_never_cache_headers(response)
    return response


@csrf_exempt  # The signed token is the credential; mail clients POST without a CSRF token.
@require_http_methods(["GET", "POST"])
def reminders_stop(request: HttpRequest, token: str) -> HttpResponse:
    browser_language = translation.get_language_from_request(request)
    if rate_limit_exceeded(
        request,
        "reminders_stop",
        limit=settings.ALLIANCE_FORM_ADDRESS_RATE_LIMIT,
        window=settings.ALLIANCE_FORM_RATE_WINDOW,
    ):
        response = _render(
            request, "sessions/client/too_many.html", {}, language=browser_language, status=429
        )
        response.headers["Retry-After"] = str(settings.ALLIANCE_FORM_RATE_WINDOW)
        return response
    signed = stop_token_read(token)
    if signed is None:
        return _render(
            request, "notify/stop.html", {"state": "invalid"}, language=browser_language, status=400
        )
    contact = stop_token_contact(signed)
    if contact is None:
        # Signed by us, but for an address no longer stored with consent (a new address was
        # recorded, or consent withdrawn): it stops nothing, and says nothing about why.
        return _render(
            request,
            "notify/stop.html",
            {"state": "outdated"},
            language=browser_language,
            status=410,
        )
    client = contact.client
    language = client.language if client.language in LANGUAGE_CODES else browser_language
    if request.method == "POST":
        contact_id, consent = signed
        contact = client_contact_stop_reminders(contact_id=contact_id, consent_recorded_at=consent)
        if contact is not None:
            audit_record(
                action=AccessEvent.Action.UPDATE,
                request=request,
                roles="client-link",
                clinic_id=client.clinic_id,
                object_type="client_contact",
                object_id=contact.pk,
                client_id=client.pk,
                url_name="reminders_stop",
                status_code=200,
            )
    if contact is None or not client.clinic.client_contact_details:
        state = "none"  # nothing is sent to this client any more
    elif contact.reminders_stopped_at is not None:
        state = "stopped"
    else:
        state = "ask"
    return _render(
        request,
        "notify/stop.html",
        {"state": state, "clinic": client.clinic.name},
        language=language,
    )
