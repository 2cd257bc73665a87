"""Security pages: the locked-out page, two-factor setup and verification, the clinic's
security settings, the audit log (page and CSV) and a client's access and change history.

The audit log and a client's history are for clinic admins of the clinic; anyone else gets
404, like every out-of-scope page.
"""

import base64
import csv
import datetime as dt

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp import match_token

from alliance.api.errors import error_body
from alliance.clients import selectors as client_selectors
from alliance.interop.exports import _safe
from alliance.models import AccessEvent
from alliance.pagination import paginate
from alliance.people import selectors as people_selectors
from alliance.people.views import clinic_admin_of
from alliance.security import services
from alliance.security.audit import audit_record
from alliance.security.forms import AuditFilterForm, ClinicSecurityForm, TokenForm
from alliance.security.lockout import lockout_message
from alliance.security.middleware import HAS_DEVICE, two_factor_step
from alliance.security.selectors import (
    CLIENT_PAGE_LIMIT,
    audit_events,
    audit_events_filtered,
    client_changes,
)
from alliance.security.two_factor import two_factor_required

AUDIT_PAGE_SIZE = 100


def _next_page(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


# --- lockout -----------------------------------------------------------------------------


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer once a username and address, or an address, are locked out
    (AXES_LOCKOUT_CALLABLE): the API's error shape under /api/, else a page saying when to
    try again."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = lockout_message(request)
    if request.path_info.startswith("/api/"):
        response = JsonResponse(error_body(429, "locked_out", message), status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


# --- two-factor --------------------------------------------------------------------------


def _manual_key(device) -> str:
    """The device's secret in base32, in groups of four, for typing into the app."""
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


# The session key holding the token of the enrolment link the user opened (kept out of the
# address bar on the setup page, like Django's set-password link).
ENROLMENT = "alliance_two_factor_enrolment"


def _enrolment_open(request: HttpRequest) -> bool:
    token = request.session.get(ENROLMENT)
    return bool(token) and services.enrolment_tokens.check_token(request.user, token)


def _link_needed(request: HttpRequest, reason: str) -> HttpResponse:
    """Why the setup page cannot open, and whom to ask for a link."""
    response = render(
        request,
        "security/two_factor_link_needed.html",
        {"reason": reason, "staff": request.user.clinic_id is None},
        status=403 if reason == "missing" else 400,
    )
    add_never_cache_headers(response)
    return response


@login_required
def two_factor_enrol(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The one-time link a clinic admin hands over: opened signed in, it lets this user set
    up their authenticator app where a second factor is required."""
    try:
        uid = int(urlsafe_base64_decode(uidb64).decode())
    except (TypeError, ValueError, UnicodeDecodeError):
        uid = None
    if uid != request.user.pk:
        return _link_needed(request, "other_user")
    if not services.enrolment_tokens.check_token(request.user, token):
        return _link_needed(request, "invalid")
    request.session[ENROLMENT] = token
    return redirect("two_factor_setup")


@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Scan a QR code (or type the key), then enter a code to confirm the app.

    A user with an app changes it after a code from it; where a second factor is required,
    a first app needs the enrolment link (a password alone does not choose the app)."""
    user = request.user
    has_device = request.session.get(HAS_DEVICE, False)
    if has_device and not user.is_verified():
        return redirect("two_factor_verify")  # a new app needs the current one first
    required = two_factor_required(user)
    if required and not has_device and not _enrolment_open(request):
        return _link_needed(request, "missing")
    device = services.two_factor_device_pending(user=user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.two_factor_confirm(device=device, token=form.cleaned_data["token"]):
            otp_login(request, device)
            request.session[HAS_DEVICE] = True
            request.session.pop(ENROLMENT, None)
            messages.success(request, _("Two-factor sign-in is on for your account."))
            return redirect(_next_page(request))
        form.add_error("token", _("That code is not right. Check the app and try again."))
    qr_svg = segno.make(device.config_url, error="m").svg_inline(
        scale=4, border=2, svgclass="qr-code", title=_("QR code for your authenticator app")
    )
    response = render(
        request,
        "security/two_factor_setup.html",
        {
            "form": form,
            "qr_svg": qr_svg,
            "manual_key": _manual_key(device),
            "has_device": has_device,
            "required": required,
            "next": _next_page(request),
        },
        status=400 if form.errors else 200,
    )
    add_never_cache_headers(response)
    return response


@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of logging in: a code from the user's authenticator app."""
    if two_factor_step(request) != "verify":
        return redirect(_next_page(request))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(request.user, form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            return redirect(_next_page(request))
        audit_record(
            action=AccessEvent.Action.LOGIN_FAILED,
            request=request,
            object_type="second_factor",
            url_name="two_factor_verify",
        )
        form.add_error("token", _("That code is not right. Check the app and try again."))
    return render(
        request,
        "security/two_factor_verify.html",
        {"form": form, "next": _next_page(request)},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    try:
        services.two_factor_remove(user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        request.session[HAS_DEVICE] = False
        messages.success(request, _("Two-factor sign-in is off for your account."))
    return redirect("two_factor_setup")


# --- clinic admin ------------------------------------------------------------------------


@login_required
def clinic_security(request: HttpRequest) -> HttpResponse:
    admin = clinic_admin_of(request)
    form = ClinicSecurityForm(request.POST or None, instance=admin.clinic)
    if (
        request.method == "POST"
        and form.is_valid()
        and form.cleaned_data["require_two_factor"]
        and not request.session.get(HAS_DEVICE)
    ):
        # Else the admin is locked out until someone else makes them a setup link.
        form.add_error(
            "require_two_factor",
            _("Set up your own authenticator app first (your two-factor page), then require it."),
        )
    if request.method == "POST" and form.is_valid():
        services.clinic_security_update(
            clinic=admin.clinic, changed_by=request.user, **form.cleaned_data
        )
        messages.success(request, _("Security settings saved."))
        return redirect("clinic_security")
    return render(
        request,
        "security/clinic_security.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def clinic_user_two_factor_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = clinic_admin_of(request)
    person = people_selectors.clinic_user_get(admin, user_id)
    try:
        services.two_factor_reset(user=person, changed_by=admin)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("%(name)s's authenticator app is removed and they are logged out.")
            % {"name": person},
        )
    return redirect("clinic_user", user_id=person.pk)


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """Every access to the clinic's client data, newest first, with filters. Read only."""
    admin = clinic_admin_of(request)
    filters = AuditFilterForm(request.GET, clinic_id=admin.clinic_id)
    events = audit_events_filtered(admin, **filters.values())
    page = paginate(request, events, default=AUDIT_PAGE_SIZE)
    return render(request, "security/audit_log.html", {"filters": filters, "page": page})


CSV_COLUMNS = [
    "at_utc",
    "username",
    "roles",
    "action",
    "object_type",
    "object_id",
    "client_id",
    "url_name",
    "method",
    "status_code",
    "ip",
    "user_agent",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def audit_log_csv(request: HttpRequest) -> HttpResponse:
    """The filtered audit log as CSV (times in UTC). The export is itself recorded."""
    admin = clinic_admin_of(request)
    filters = AuditFilterForm(request.GET, clinic_id=admin.clinic_id)
    events = audit_events_filtered(admin, **filters.values())
    audit_record(
        action=AccessEvent.Action.EXPORT,
        request=request,
        object_type="audit_log",
        url_name="audit_log_csv",
        status_code=200,
    )
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for event in events.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    event.at.astimezone(dt.UTC).isoformat(),
                    _safe(event.username),
                    event.roles,
                    event.action,
                    event.object_type,
                    event.object_id or "",
                    event.client_id or "",
                    event.url_name,
                    event.method,
                    event.status_code or "",
                    event.ip or "",
                    _safe(event.user_agent),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response


@login_required
def client_access(request: HttpRequest, client_id: int) -> HttpResponse:
    """Who looked at a client's record, and who changed what in it (clinic admins)."""
    client = client_selectors.client_get(request.user, client_id)
    if not request.user.is_clinic_admin:  # of the client's clinic: client_get scoped it
        raise Http404("A client's access history is for clinic admins.")
    events = list(
        audit_events(request.user)
        .filter(client_id=client.pk)
        .select_related("user")
        .order_by("-at", "-pk")[:CLIENT_PAGE_LIMIT]
    )
    return render(
        request,
        "security/client_access.html",
        {"client": client, "events": events, "changes": client_changes(client)},
    )
