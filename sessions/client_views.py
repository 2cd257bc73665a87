"""The client's session-end form (one-time link or tablet hand-over) and the clinician's
endpoints that hand it out. Thin: the rules live in sessions.formlinks and measures."""

import datetime as dt
import uuid
from functools import wraps

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers
from django.utils.formats import date_format
from django.utils.translation import get_language_info, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from measures.models import Instrument, Rater, Rating
from measures.selectors import instrument_definition, instrument_for
from sessions import formlinks
from sessions.client_forms import ClientSessionForm
from sessions.formlinks import FormLinkError, FormLinkUsed, SessionNotRateable
from sessions.forms import FormLinkEmailForm
from sessions.kiosk import (
    MAX_WRONG_PASSWORDS,
    kiosk_end,
    kiosk_start,
    kiosk_state,
    kiosk_wrong_password,
)
from sessions.models import FormLink, TherapySession, hash_token
from sessions.ratelimit import form_rate_limit_exceeded, limit_exceeded

LANGUAGE_CODES = tuple(code for code, _name in settings.LANGUAGES)
GONE_HEADINGS = {
    "used": gettext_lazy("This form has already been sent"),
    "already_rated": gettext_lazy("This form has already been sent"),
    "expired": gettext_lazy("This link has expired"),
    "revoked": gettext_lazy("This link has been replaced"),
    "unavailable": gettext_lazy("The form is not available"),
    "closed": gettext_lazy("This session has no form"),
    "not_started": gettext_lazy("Your session has not started yet"),
    "not_found": gettext_lazy("Form not found"),
}


# --- helpers -----------------------------------------------------------------------------


def _page_language(request: HttpRequest, default: str | None = None) -> str:
    """?lang= when it names a language, else the given default, else the browser's."""
    for candidate in (request.GET.get("lang"), default):
        if candidate in LANGUAGE_CODES:
            return candidate
    return translation.get_language_from_request(request)


def _client_render(
    request: HttpRequest,
    template: str,
    context: dict,
    *,
    language: str,
    status: int = 200,
    languages: tuple[str, ...] = LANGUAGE_CODES,
    token_in_url: bool = True,
) -> HttpResponse:
    """A client-facing page in the client's language, never cached; a page whose URL holds a
    token sends no Referer (kiosk pages do: their forms need it for the CSRF origin check)."""
    switch = [
        (code, get_language_info(code)["name_local"].capitalize())
        for code in languages
        if code != language
    ]
    with translation.override(language):
        response = render(
            request,
            template,
            {
                **context,
                "language": language,
                "switch_languages": switch,
                "token_in_url": token_in_url,
            },
            status=status,
        )
    response.headers["Content-Language"] = language
    if token_in_url:
        # No Referer to anyone, not even our own static files, so the token stays here.
        response.headers["Referrer-Policy"] = "no-referrer"
    add_never_cache_headers(response)
    return response


def _rate_limited_link(request: HttpRequest, token: str | None) -> str | None:
    """What the form endpoints' per-link limit counts this request on: the link in the URL
    (by its token's hash: no token is kept in the cache) or this device's kiosk hand-over."""
    if token is not None:
        return hash_token(token)
    state = kiosk_state(request.session)
    return f"kiosk:{state['link']}" if state is not None else None


def rate_limited(view):
    """Answer 429 with a friendly page once a link or an address passes the form endpoints'
    limits (``ratelimit.form_rate_limit_exceeded``)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        link = _rate_limited_link(request, kwargs.get("token"))
        if form_rate_limit_exceeded(request, link=link):
            response = _client_render(
                request,
                "sessions/client/too_many.html",
                {},
                language=_page_language(request),
                status=429,
            )
            response.headers["Retry-After"] = str(settings.ALLIANCE_FORM_RATE_WINDOW)
            return response
        return view(request, *args, **kwargs)

    return wrapped


def _rating_language(link: FormLink) -> str | None:
    return (
        Rating.objects.filter(session_id=link.session_id, rater=Rater.CLIENT)
        .values_list("language", flat=True)
        .first()
    )


def _gone(request: HttpRequest, error: FormLinkError, *, kiosk: bool = False) -> HttpResponse:
    """The page for a link that cannot be used: 404 unknown, 410 used/expired/revoked."""
    client_language = None
    if error.link:
        # A used link answers in the language the form was sent in.
        used = isinstance(error, FormLinkUsed) and _rating_language(error.link)
        client_language = used or error.link.session.client.language
    return _client_render(
        request,
        "sessions/client/gone.html",
        {
            "reason": error.reason,
            "heading": GONE_HEADINGS[error.reason],
            "kiosk": kiosk,
            "session_starts": _session_starts(error.link.session) if error.link else None,
        },
        language=_page_language(request, client_language),
        status=error.status,
        token_in_url=not kiosk,
    )


def _session_starts(session: TherapySession) -> dt.datetime:
    """When the session starts in its clinic's time, naive so templates show it unconverted."""
    return timezone.make_naive(session.starts_at, session.client.clinic.tzinfo)


def _session_title(starts: dt.datetime, *, today: bool, language: str) -> str:
    """ "About today's session" only when it is today in the clinic's timezone; otherwise the
    session's date, so a client never rates an older session believing it is today's."""
    with translation.override(language):
        if today:
            return _("About today's session")
        return _("About your session on %(date)s") % {"date": date_format(starts.date(), "j M Y")}


def _submission_id(data) -> uuid.UUID | None:
    try:
        return uuid.UUID(data.get("submission_id", ""))
    except ValueError:
        return None


# --- the form ----------------------------------------------------------------------------


def _form_page(
    request: HttpRequest, link: FormLink, *, done_url: str, kiosk: bool = False
) -> HttpResponse:
    """GET shows the form; POST switches its language (keeping every answer) or sends it."""
    session = link.session
    try:
        instrument = instrument_for(clinic=session.client.clinic, rater=Rater.CLIENT)
    except Instrument.DoesNotExist:
        return _client_render(
            request,
            "sessions/client/gone.html",
            {"reason": "unavailable", "heading": GONE_HEADINGS["unavailable"], "kiosk": kiosk},
            language=_page_language(request, session.client.language),
            status=503,
            token_in_url=not kiosk,
        )
    definition = instrument_definition(instrument)
    status = 200
    not_rateable = None
    if request.method == "GET":
        try:
            formlinks.formlink_check_rateable(link=link)
        except SessionNotRateable as exc:
            return _gone(request, exc, kiosk=kiosk)
    if request.method == "POST":
        submission_id = _submission_id(request.POST) or uuid.uuid4()
        switch_to = request.POST.get("language")
        language = definition.language_for(switch_to or request.POST.get("form_language"))
        if switch_to:
            # Re-render in the other language with the answers so far; nothing is saved.
            form = ClientSessionForm(
                initial=request.POST.dict(), definition=definition, language=language
            )
        else:
            form = ClientSessionForm(request.POST, definition=definition, language=language)
            if form.is_valid():
                try:
                    formlinks.formlink_submit(
                        link=link,
                        instrument=instrument,
                        answers=form.answers(),
                        questions=form.questions(),
                        submission_id=submission_id,
                        language=language,
                    )
                except SessionNotRateable as exc:
                    # Shown above the form: nothing the client typed is lost.
                    not_rateable = exc.reason
                except FormLinkError as exc:
                    if kiosk and isinstance(exc, FormLinkUsed):
                        return redirect(done_url)
                    return _gone(request, exc, kiosk=kiosk)
                except ValidationError as exc:
                    form.add_service_errors(
                        exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
                    )
                else:
                    return redirect(done_url)
            status = SessionNotRateable.status if not_rateable else 400
    else:
        submission_id = uuid.uuid4()
        language = definition.language_for(request.GET.get("lang") or session.client.language)
        form = ClientSessionForm(definition=definition, language=language)
    starts = _session_starts(session)
    today = formlinks.session_days_ago(session) == 0
    return _client_render(
        request,
        "sessions/client/form.html",
        {
            "form": form,
            "kiosk": kiosk,
            "submission_id": submission_id,
            # The instrument's name is for clinicians ("... (client)"); clients see this.
            "title": _session_title(starts, today=today, language=language),
            "session_is_today": today,
            "instructions": definition.instructions.get(language, ""),
            "clinic_name": session.client.clinic.name,
            "session_date": starts.date(),
            "session_starts": starts,
            "not_rateable": not_rateable,
            "not_rateable_heading": GONE_HEADINGS.get(not_rateable),
        },
        language=language,
        status=status,
        languages=definition.languages,
        token_in_url=not kiosk,
    )


@csrf_exempt  # The 256-bit token in the URL is the secret a forged request would need.
@rate_limited
@require_http_methods(["GET", "POST"])
def client_form(request: HttpRequest, token: str) -> HttpResponse:
    # The link is kept on the request: the audit log reads its ids without fetching it again.
    try:
        link = request.form_link = formlinks.formlink_resolve(token)
    except FormLinkError as exc:
        request.form_link = exc.link
        # The same form sent again after it was saved (refresh, back button, second tab).
        submission_id = _submission_id(request.POST) if request.method == "POST" else None
        if (
            exc.link
            and submission_id
            and formlinks.formlink_submission(link=exc.link, submission_id=submission_id)
        ):
            return redirect("client_form_thanks", token=token)
        return _gone(request, exc)
    return _form_page(request, link, done_url=reverse("client_form_thanks", args=[token]))


@rate_limited
@require_http_methods(["GET"])
def client_form_thanks(request: HttpRequest, token: str) -> HttpResponse:
    try:
        formlinks.formlink_resolve(token)
    except FormLinkUsed as exc:
        language = _page_language(request, _rating_language(exc.link))
        return _client_render(request, "sessions/client/thanks.html", {}, language=language)
    except FormLinkError as exc:
        return _gone(request, exc)
    # Not sent yet: back to the form.
    return redirect("client_form", token=token)


# --- tablet hand-over --------------------------------------------------------------------


def _kiosk_link(request: HttpRequest) -> FormLink:
    """The kiosk link this browser session is locked to (it may no longer be usable)."""
    state = kiosk_state(request.session)
    if state is None:
        raise Http404("This device is not handed over.")
    return get_object_or_404(FormLink.objects.select_related("session__client"), pk=state["link"])


@rate_limited
@require_http_methods(["GET", "POST"])
def kiosk_form(request: HttpRequest) -> HttpResponse:
    state = kiosk_state(request.session)
    if state is None:
        raise Http404("This device is not handed over.")
    # Kept on the request for the audit log, as in client_form.
    try:
        link = request.form_link = formlinks.formlink_resolve_kiosk(state["link"])
    except FormLinkError as exc:
        request.form_link = exc.link
        if isinstance(exc, FormLinkUsed):
            return redirect("kiosk_done")
        return _gone(request, exc, kiosk=True)
    return _form_page(request, link, done_url=reverse("kiosk_done"), kiosk=True)


@rate_limited
@require_http_methods(["GET"])
def kiosk_done(request: HttpRequest) -> HttpResponse:
    link = _kiosk_link(request)
    if link.used_at is None:
        return redirect("kiosk_form")
    language = _page_language(request, _rating_language(link))
    return _client_render(
        request, "sessions/client/kiosk_done.html", {}, language=language, token_in_url=False
    )


@rate_limited
@require_http_methods(["GET", "POST"])
def kiosk_hand_back(request: HttpRequest) -> HttpResponse:
    """The therapist's password lifts the lock; too many wrong ones log them out."""
    state = kiosk_state(request.session)
    if state is None:
        return redirect("home")
    if not request.user.is_authenticated or request.user.pk != state["user"]:
        logout(request)
        return redirect("login")
    error = None
    status = 200
    if request.method == "POST":
        if request.user.check_password(request.POST.get("password", "")):
            link = _kiosk_link(request)
            formlinks.formlink_revoke_unused(link=link)
            kiosk_end(request)
            if link.used_at is not None:
                messages.success(request, _("Welcome back. The client's answers were saved."))
            else:
                messages.info(request, _("Welcome back. The client did not send the form."))
            return redirect(link.session.get_absolute_url())
        if kiosk_wrong_password(request) >= MAX_WRONG_PASSWORDS:
            logout(request)
            return redirect("login")
        error = _("That password is not right. Please try again.")
        status = 400
    return _client_render(
        request,
        "sessions/client/hand_back.html",
        {"error": error},
        language=_page_language(request),
        status=status,
        token_in_url=False,
    )


# --- clinician endpoints -----------------------------------------------------------------


def _own_session(request: HttpRequest, session_id: int) -> TherapySession:
    """A session the user may hand the client form out for: in their scope, and theirs as
    the session's therapist or the client's primary therapist (supervisors only read)."""
    session = get_object_or_404(
        TherapySession.objects.visible_to(request.user).select_related("client__clinic"),
        pk=session_id,
    )
    if not formlinks.formlink_may_hand_out(session=session, user=request.user):
        raise Http404("Only the client's therapists hand out the client form.")
    return session


@login_required
@require_POST
def formlink_new(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _own_session(request, session_id)
    channel = request.POST.get("channel")
    if channel not in (FormLink.Channel.LINK, FormLink.Channel.QR):
        channel = FormLink.Channel.LINK
    try:
        link, token = formlinks.formlink_create(
            session=session, created_by=request.user, channel=channel
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect(session)
    url = formlinks.formlink_url(token)
    qr_svg = segno.make(url, error="m").svg_inline(
        scale=1,
        border=2,
        omitsize=True,
        svgclass="qr-code",
        title=_("QR code of the client's form link"),
    )
    # Shown once, straight from the POST: the token is never stored anywhere to show again.
    response = render(
        request,
        "sessions/client/link.html",
        {
            "session": session,
            "link": link,
            "url": url,
            "qr_svg": qr_svg,
        },
    )
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def formlink_email(request: HttpRequest, session_id: int) -> HttpResponse:
    """Email a new link to the address typed on the session page (stored nowhere unless the
    clinic stores client contact details and the therapist ticked the client's consent); a
    mistyped address comes back with what was typed."""
    session = _own_session(request, session_id)
    form = FormLinkEmailForm(
        request.POST, contact_details=session.client.clinic.client_contact_details
    )
    status = 400
    if form.is_valid():
        address = form.cleaned_data["address"]
        if _emails_exceeded(request.user):
            form.add_error(
                None, _("You have sent many form links by email this hour. Wait a while.")
            )
            status = 429
        else:
            try:
                formlinks.formlink_email(
                    session=session,
                    created_by=request.user,
                    address=address,
                    store=form.cleaned_data.get("store", False),
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                said = _("The form link went to %(address)s. It works once.")
                if form.cleaned_data.get("store"):
                    said = _(
                        "The form link went to %(address)s. It works once. The address is "
                        "stored with the client's consent, for reminders."
                    )
                messages.success(request, said % {"address": address})
                return redirect(session)
    return render(
        request,
        "sessions/client/link_email_form.html",
        {"session": session, "form": form},
        status=status,
    )


def _emails_exceeded(user) -> bool:
    """A therapist may email ALLIANCE_FORM_EMAIL_LIMIT form links an hour: enough for a
    day's clients, not for an account someone else uses to send mail in the clinic's name."""
    return limit_exceeded(
        f"formlink_email:user:{user.pk}", limit=settings.ALLIANCE_FORM_EMAIL_LIMIT, window=3600
    )


@login_required
@require_POST
def kiosk_hand_over(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _own_session(request, session_id)
    try:
        link, _token = formlinks.formlink_create(
            session=session,
            created_by=request.user,
            channel=FormLink.Channel.KIOSK,
            older_session_confirmed=request.POST.get("confirm_older_session") == "on",
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect(session)
    kiosk_start(request, link_id=link.pk)
    return redirect("kiosk_form")
