"""The audit log: who read or changed which client's data, when and from where.

One AccessEvent per request to a client-data URL, written by AuditMiddleware from one table,
AUDITED (URL name -> what the URL is about, where its id is, the action per method), and
explicit audit_record() calls for logins (auth signals), the second factor and exports made
outside a request. A 403 or 404 on a client-data URL is recorded as "denied" with the id that
was asked for, and its client only where the user may see that client: the event confirms
nothing about an object outside the user's scope. A write and its event commit together.
URLs are named as Django resolves them (ResolverMatch.view_name): the Django admin site's
pages are "admin:<app>_<model>_<page>". Every URL name, the admin's included, is either in
AUDITED or in NOT_AUDITED (with the reason): tests/security/test_permission_matrix.py fails
on a URL that is in neither.

Nothing clinical is stored: ids, the kind of object, the address and the browser. A form
link's token is a credential and is never stored either (its link's id is).
Overhead: at most one query to find the client of a session, rating, episode or flag, and
the insert.
"""

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import DatabaseError, transaction
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

from alliance.api.errors import error_body
from alliance.models import AccessEvent, Client, Episode, Flag, User
from alliance.security.client_address import client_ip
from measures.models import Rating
from sessions.kiosk import kiosk_state
from sessions.models import FormLink, TherapySession, hash_token

logger = logging.getLogger(__name__)

Action = AccessEvent.Action
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
USER_AGENT_LENGTH = AccessEvent._meta.get_field("user_agent").max_length

READ = {"GET": Action.READ, "HEAD": Action.READ}
EDIT = {**READ, "POST": Action.UPDATE}
EXPORT = {"GET": Action.EXPORT, "HEAD": Action.EXPORT}


@dataclass(frozen=True)
class Audited:
    """How a client-data URL is recorded.

    object_type: what the request reads or changes ("client", "session", "rating", ...).
    id_from: the URL kwarg (or "?name": query parameter) holding an id, if any.
    id_kind: what that id identifies (default: object_type); the client is found from it.
    actions: the action recorded per HTTP method; other methods are not recorded.
    public: recorded without a login too (the client's form link).
    success_only: recorded only for 2xx answers (failed logins are recorded by a signal).
    """

    object_type: str
    id_from: str | None = None
    id_kind: str | None = None
    actions: dict[str, str] = field(default_factory=lambda: dict(READ))
    public: bool = False
    success_only: bool = False

    @property
    def kind(self) -> str:
        return self.id_kind or self.object_type


AUDITED: dict[str, Audited] = {
    # Caseloads and lists: every client in them is read.
    "caseload": Audited("client"),
    "client_list": Audited("client"),
    "supervision": Audited("client"),
    "therapist_caseload": Audited("client", "therapist_id", "therapist"),
    # A therapist's alerts name the clients with a new or unrepaired rupture.
    "notice_list": Audited("client"),
    # Supervision packets (alliance/dashboards/views.py): every client in them is read.
    "therapist_packet": Audited("client", "therapist_id", "therapist"),
    "therapist_packet_xlsx": Audited("client", "therapist_id", "therapist", actions=EXPORT),
    "therapist_packet_clients_csv": Audited("client", "therapist_id", "therapist", actions=EXPORT),
    "therapist_packet_sessions_csv": Audited("client", "therapist_id", "therapist", actions=EXPORT),
    "client_packet": Audited("client", "client_id"),
    "client_packet_xlsx": Audited("client", "client_id", actions=EXPORT),
    "client_packet_clients_csv": Audited("client", "client_id", actions=EXPORT),
    "client_packet_sessions_csv": Audited("client", "client_id", actions=EXPORT),
    # Clients.
    "client_create": Audited("client", actions={"POST": Action.CREATE}),
    "client_detail": Audited("client", "client_id"),
    "client_edit": Audited("client", "client_id", actions=EDIT),
    "client_transfer": Audited("client", "client_id", actions=EDIT),
    "client_contact": Audited("client_contact", "client_id", "client", actions=EDIT),
    "client_contact_withdraw": Audited(
        "client_contact", "client_id", "client", actions={"POST": Action.DELETE}
    ),
    "client_export_csv": Audited("rating", "client_id", "client", actions=EXPORT),
    "client_export_xlsx": Audited("rating", "client_id", "client", actions=EXPORT),
    "client_export_record": Audited("client", "client_id", actions=EXPORT),
    "client_access": Audited("client", "client_id"),
    # A background job (alliance/jobs): its page (an import's problems by row name clients)
    # and its file (a ratings export or the clinic's FHIR bundle).
    "job_detail": Audited("job", "job_id"),
    "job_download": Audited("job", "job_id", actions=EXPORT),
    # Checking a ratings CSV reads the clinic's clients; applying it creates ratings.
    "ratings_import": Audited("rating", actions={"POST": Action.CREATE}),
    # Sessions and the therapist's rating.
    "session_new": Audited(
        "session", "client_id", "client", actions={**READ, "POST": Action.CREATE}
    ),
    "session_detail": Audited("session", "session_id"),
    "session_answers": Audited("session", "session_id"),
    "session_edit": Audited("session", "session_id", actions=EDIT),
    "session_status": Audited("session", "session_id", actions={"POST": Action.UPDATE}),
    "rating_new": Audited("rating", "session_id", "session", actions={**READ, "POST": "create"}),
    "rating_edit": Audited("rating", "session_id", "session", actions=EDIT),
    # Episodes and their flags (an old link to a flag redirects to its episode).
    "episode_detail": Audited("episode", "episode_id"),
    "episode_acknowledge": Audited("episode", "episode_id", actions={"POST": Action.UPDATE}),
    "episode_resolve": Audited("episode", "episode_id", actions={"POST": Action.UPDATE}),
    "episode_comment": Audited("episode", "episode_id", actions={"POST": Action.CREATE}),
    "flag_detail": Audited("flag", "flag_id"),
    # The client's form: handed out by the therapist, opened and sent by the client.
    "formlink_new": Audited("form_link", "session_id", "session", actions={"POST": "create"}),
    "kiosk_hand_over": Audited("form_link", "session_id", "session", actions={"POST": "create"}),
    "formlink_email": Audited("form_link", "session_id", "session", actions={"POST": "create"}),
    "client_form": Audited(
        "form_link", "token", "token", actions={**READ, "POST": Action.CREATE}, public=True
    ),
    "kiosk_form": Audited("form_link", None, "kiosk", actions={**READ, "POST": Action.CREATE}),
    # The API.
    # Issuing a token is recorded as a login by the token serializer (the user is not the
    # request's); revoking it here.
    "api-auth-token": Audited("api_token", actions={"DELETE": Action.LOGOUT}, success_only=True),
    "api-caseload": Audited("client", "?therapist", "therapist"),
    "api-supervision": Audited("client"),
    "api-import-ratings": Audited("rating", actions={"POST": Action.CREATE}),
    "api-fhir-bundle": Audited("rating", actions=EXPORT),
    "api-client-fhir": Audited("rating", "client_id", "client", actions=EXPORT),
    "api-export-ratings-csv": Audited("rating", "?client", "client", actions=EXPORT),
    "api-export-ratings-xlsx": Audited("rating", "?client", "client", actions=EXPORT),
    "api-export-client-record": Audited("client", "client_id", actions=EXPORT),
    "api-client-list": Audited("client", actions={**READ, "POST": Action.CREATE}),
    "api-client-detail": Audited("client", "pk", actions={**READ, "PATCH": Action.UPDATE}),
    "api-client-series": Audited("client", "pk"),
    "api-client-transfer": Audited("client", "pk", actions={"POST": Action.UPDATE}),
    "api-session-list": Audited("session", actions={**READ, "POST": Action.CREATE}),
    "api-session-detail": Audited("session", "pk", actions={**READ, "PATCH": Action.UPDATE}),
    "api-session-form-link": Audited("form_link", "pk", "session", actions={"POST": Action.CREATE}),
    "api-rating-list": Audited("rating", actions={**READ, "POST": Action.CREATE}),
    "api-rating-detail": Audited("rating", "pk", actions={**READ, "PATCH": Action.UPDATE}),
    "api-episode-list": Audited("episode"),
    "api-episode-detail": Audited("episode", "pk"),
    "api-episode-acknowledge": Audited("episode", "pk", actions={"POST": Action.UPDATE}),
    "api-episode-resolve": Audited("episode", "pk", actions={"POST": Action.UPDATE}),
    "api-episode-comments": Audited("episode", "pk", actions={"POST": Action.CREATE}),
    "api-flag-list": Audited("flag"),
    "api-flag-detail": Audited("flag", "pk"),
    # Background jobs, as the job's pages: a job's file is an export of client data; the
    # list and a job show kinds, states and counts (recorded as the web's job page is).
    "api-job-list": Audited("job", actions={**READ, "POST": Action.CREATE}),
    "api-job-detail": Audited("job", "pk"),
    "api-job-file": Audited("job", "pk", actions=EXPORT),
}


def _admin_pages(model: str, object_type: str, *, history: bool = False) -> dict[str, Audited]:
    """The Django admin site's pages of a clinical model ("<app>_<model>"): all read only
    (alliance.admin), so a POST answers 403 and is recorded as denied."""
    name = f"admin:{model}"
    pages = {
        # A POST to a list changes nothing here (no actions, no editable columns).
        f"{name}_changelist": Audited(object_type, actions={**READ, "POST": Action.READ}),
        f"{name}_add": Audited(object_type, actions={**READ, "POST": Action.CREATE}),
        f"{name}_change": Audited(object_type, "object_id", actions=EDIT),
        f"{name}_delete": Audited(object_type, "object_id", actions={**READ, "POST": "delete"}),
        f"{name}_history": Audited(object_type, "object_id"),
    }
    if history:  # django-simple-history's page of one past version
        pages[f"{name}_simple_history"] = Audited(object_type, "object_id", actions=EDIT)
    return pages


# Site staff reading clinical records in the admin site.
AUDITED |= {
    **_admin_pages("alliance_client", "client", history=True),
    **_admin_pages("alliance_episode", "episode", history=True),
    **_admin_pages("therapy_sessions_therapysession", "session", history=True),
    **_admin_pages("therapy_sessions_formlink", "form_link"),
    **_admin_pages("measures_rating", "rating"),
}

# URL names that read or change no client data, and why.
NOT_AUDITED: dict[str, str] = {
    "home": "redirects to the role's page",
    "login": "logins are recorded by the user_logged_in / user_login_failed signals",
    "logout": "recorded by the user_logged_out signal",
    "password_change": "the user's own password",
    "password_set": "the user's own password",
    "password_reset": "sends a set-password link by email, no client",
    "password_reset_done": "a fixed page",
    "clinic": "people and per-therapist aggregates, no client",
    "clinic_overview": "clinic-wide aggregates (distribution, completion, flags per rule)",
    "clinic_user_create": "people, no client",
    "clinic_user": "people, no client",
    "clinic_user_deactivate": "people, no client",
    "clinic_user_reactivate": "people, no client",
    "clinic_user_password_reset": "people, no client",
    "clinic_user_two_factor_reset": "people, no client",
    "clinic_rules": "rule settings, no client",
    "clinic_supervision_add": "supervision links, no client",
    "clinic_supervision_remove": "supervision links, no client",
    "clinic_security": "clinic settings, no client",
    "audit_log": "the audit log itself (ids only)",
    "exports": "starts a job and lists the user's own jobs; the download is recorded",
    "job_status": "a job's state and counts",
    "job_retry": "starts the same job again; its download is recorded",
    "audit_log_csv": "recorded by the view itself, as an export of the audit log",
    "client_form_thanks": "a thank-you page, no answers",
    "kiosk_done": "a thank-you page, no answers",
    "reminders_stop": "the client's own stop link, no login: the view records the stop itself "
    "(audit_record); a GET shows the clinic's name only",
    "kiosk_hand_back": "the therapist's password; the session page it leads to is recorded",
    "two_factor_setup": "the user's own second factor",
    "two_factor_enrol": "the user's own second factor (the link a clinic admin made)",
    "two_factor_verify": "the user's own second factor (failures are recorded)",
    "two_factor_disable": "the user's own second factor",
    "set_language": "a language choice",
    "user_settings": "the user's own email-alert and language choices",
    "notice_read": "marks the user's own alert read; shows nothing (its episode page is recorded)",
    "notices_read_all": "marks the user's own alerts read; shows nothing",
    "api-schema": "the API's description",
    "api-docs": "the API's description",
    "api-instrument-list": "questionnaires, no client",
    "api-instrument-detail": "questionnaires, no client",
    # The Django admin site, apart from its clinical models (above).
    "admin:index": "the list of models",
    "admin:app_list": "the list of an app's models",
    "admin:login": "logins are recorded by the user_logged_in / user_login_failed signals",
    "admin:logout": "recorded by the user_logged_out signal",
    "admin:password_change": "the user's own password",
    "admin:password_change_done": "the user's own password",
    "admin:jsi18n": "translations for the admin's scripts",
    "admin:autocomplete": "people only: no admin offers clients in an autocomplete",
    "admin:view_on_site": "a redirect to the app's page, which is recorded",
    "admin:auth_user_password_change": "a person's password, no client",
}

_ADMIN_NO_CLIENT = {
    "alliance_user": "people, no client",
    "alliance_clinic": "clinic settings, no client",
    "alliance_supervision": "supervision links, no client",
    "alliance_accessevent": "the audit log itself (ids only)",
    "auth_group": "permission groups, no client",
    "axes_accessattempt": "login attempts, no client",
    "axes_accessfailurelog": "login attempts, no client",
    "axes_accesslog": "logins, no client",
    "measures_instrument": "questionnaires, no client",
}
NOT_AUDITED |= {
    f"admin:{model}_{page}": reason
    for model, reason in _ADMIN_NO_CLIENT.items()
    for page in ("changelist", "add", "change", "delete", "history")
}


# --- writing events ----------------------------------------------------------------------


def _roles(user) -> str:
    if user is None or not user.is_authenticated:
        return ""
    return ",".join(str(role) for role in user.roles)


def audit_record(
    *,
    action: str,
    request: HttpRequest | None = None,
    user: User | None = None,
    username: str = "",
    roles: str | None = None,
    clinic_id: int | None = None,
    object_type: str = "",
    object_id: int | None = None,
    client_id: int | None = None,
    url_name: str = "",
    status_code: int | None = None,
) -> AccessEvent:
    """Append one event. ``user`` defaults to the request's signed-in user, if any."""
    if user is None and request is not None:
        candidate = getattr(request, "user", None)
        user = candidate if candidate is not None and candidate.is_authenticated else None
    meta = request.META if request is not None else {}
    return AccessEvent.objects.create(
        user=user,
        username=username or (user.get_username() if user else ""),
        roles=_roles(user) if roles is None else roles,
        clinic_id=clinic_id if clinic_id is not None else getattr(user, "clinic_id", None),
        action=action,
        object_type=object_type,
        object_id=object_id,
        client_id=client_id,
        url_name=url_name,
        method=(request.method or "") if request is not None else "",
        status_code=status_code,
        ip=(client_ip(request) or None) if request is not None else None,
        user_agent=meta.get("HTTP_USER_AGENT", "")[:USER_AGENT_LENGTH],
    )


def audit_record_many(
    *,
    action: str,
    object_type: str,
    events: list[dict],
    user: User | None = None,
    username: str = "",
    roles: str | None = None,
) -> None:
    """Append many events of one change in one INSERT, outside a request's own event: each
    dict gives some of ``user_id``, ``clinic_id``, ``object_id`` and ``client_id``. By
    ``user`` (with their roles), else by the system (roles "system", ``username`` naming
    the job)."""
    if not events:
        return
    username = username or (user.get_username() if user else "")
    roles = roles if roles is not None else (_roles(user) if user else "system")
    AccessEvent.objects.bulk_create(
        AccessEvent(
            action=action,
            username=username,
            roles=roles,
            object_type=object_type,
            **({"user_id": user.pk} if user else {}),
            **event,
        )
        for event in events
    )


# --- finding the client ------------------------------------------------------------------


def _int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


def _client_of(kind: str, pk: int) -> int | None:
    """The client an object belongs to, in one query (None if there is no such object)."""
    if kind == "client":
        return pk if Client.objects.filter(pk=pk).exists() else None
    if kind == "session":
        rows = TherapySession.objects.filter(pk=pk).values_list("client_id", flat=True)
    elif kind == "rating":
        rows = Rating.objects.filter(pk=pk).values_list("session__client_id", flat=True)
    elif kind == "episode":
        rows = Episode.objects.filter(pk=pk).values_list("client_id", flat=True)
    elif kind == "flag":
        rows = Flag.objects.filter(pk=pk).values_list("client_id", flat=True)
    elif kind == "form_link":
        rows = FormLink.objects.filter(pk=pk).values_list("session__client_id", flat=True)
    else:
        return None
    return rows.first()


def _client_in_scope(kind: str, pk: int, user: User, view_name: str) -> int | None:
    """The client of a refused object if the user may see that client, else None."""
    client_id = _client_of(kind, pk)
    if client_id is None:
        return None
    if view_name.startswith("admin:") and user.is_staff:
        return client_id  # the admin site shows site staff every clinic
    return client_id if Client.objects.visible_to(user).filter(pk=client_id).exists() else None


def _form_link(request: HttpRequest, rule: Audited, kwargs: dict) -> tuple[int | None, ...]:
    """(link id, client id, clinic id) of the client form being opened, without the token:
    from the link the view resolved (``request.form_link``, sessions.client_views) when it is
    this request's link, else in one query."""
    if rule.kind == "token":
        field, value = "token_hash", hash_token(str(kwargs.get("token", "")))
    else:
        state = kiosk_state(request.session) if hasattr(request, "session") else None
        field, value = "pk", _int((state or {}).get("link"))
    resolved = getattr(request, "form_link", None)
    if resolved is not None and (
        getattr(resolved, field) == value
        # A reminder's token opens the same link (sessions.formlinks.formlink_by_token_hash).
        or (field == "token_hash" and resolved.reminders.filter(token_hash=value).exists())
    ):
        return resolved.pk, resolved.session.client_id, resolved.session.client.clinic_id
    columns = ("pk", "session__client_id", "session__client__clinic_id")
    row = FormLink.objects.filter(**{field: value}).values_list(*columns).first()
    if row is None and field == "token_hash":
        row = FormLink.objects.filter(reminders__token_hash=value).values_list(*columns).first()
    return row or (None, None, None)


def _created_id(rule: Audited, response: HttpResponse) -> int | None:
    """The id of what a create made: the API's body, or the page a form redirected to."""
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        # A 202 answers a job, not the rule's object (an import applied in the background).
        if response.status_code == 202 and rule.object_type != "job":
            return None
        return _int(data.get("id"))
    location = response.get("Location") if response.status_code in (301, 302, 303) else None
    if not location:
        return None
    try:
        match = resolve(urlsplit(location).path)
    except Resolver404:
        return None
    target = AUDITED.get(match.view_name)
    if target is None or target.id_from is None or target.kind != rule.object_type:
        return None
    return _int(match.kwargs.get(target.id_from))


def _requested_id(request: HttpRequest, rule: Audited, kwargs: dict) -> int | None:
    if rule.id_from is None:
        return None
    if rule.id_from.startswith("?"):
        return _int(request.GET.get(rule.id_from[1:]))
    return _int(kwargs.get(rule.id_from))


def record_request(request: HttpRequest, response: HttpResponse) -> AccessEvent | None:
    """The event for a request to a client-data URL (None for any other request)."""
    match = getattr(request, "resolver_match", None)
    rule = AUDITED.get(match.view_name) if match is not None else None
    if rule is None or response.status_code >= 500:
        return None
    action = rule.actions.get(request.method)
    if action is None:
        return None
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    if not (signed_in or rule.public):
        return None  # sent to log in: nothing was read
    denied = response.status_code in (403, 404)
    if rule.success_only and not 200 <= response.status_code < 300:
        return None
    object_id = client_id = clinic_id = None
    roles = None
    if rule.kind in ("token", "kiosk"):
        object_id, client_id, clinic_id = _form_link(request, rule, match.kwargs)
        roles = "client-link" if rule.kind == "token" else "kiosk"
        if not signed_in:
            user = None
    else:
        requested = _requested_id(request, rule, match.kwargs)
        answered = 200 <= response.status_code < 400
        if requested is not None:
            if answered:  # the view found the object in the user's scope
                client_id = requested if rule.kind == "client" else _client_of(rule.kind, requested)
            else:
                # Refused (403/404) or failed, maybe before the scope check (400, 406, 415):
                # the id asked for, and its client only where the user may see that client.
                client_id = _client_in_scope(rule.kind, requested, user, match.view_name)
            if rule.kind == rule.object_type:
                object_id = requested
        if action == Action.CREATE and answered:
            created = _created_id(rule, response)
            if created is not None:
                object_id = created
                if client_id is None:
                    client_id = _client_of(rule.object_type, created)
    return audit_record(
        action=Action.DENIED if denied else action,
        request=request,
        user=user if signed_in else None,
        roles=roles,
        clinic_id=clinic_id if not signed_in else None,
        object_type=rule.object_type,
        object_id=object_id,
        client_id=client_id,
        url_name=match.view_name,
        status_code=response.status_code,
    )


class AuditMiddleware:
    """Record one AccessEvent per request to a client-data URL (see AUDITED).

    After the view, so the user an API token authenticated is known and the answer's status
    tells a read from a denial. A change and its event commit together: a write to a
    client-data URL runs in one transaction with its event, rolled back if either fails (so a
    retry never makes a duplicate). If the event cannot be written, the answer is a 503 that
    carries no client data and says nothing was saved.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in SAFE_METHODS or not _audited_path(request):
            return _recorded(request, self.get_response(request))
        with transaction.atomic():
            response = self.get_response(request)
            recorded = _recorded(request, response)
            if recorded is not response or response.status_code >= 500:
                transaction.set_rollback(True)
                # What the view said it saved was not saved: its messages go too.
                for _message in messages.get_messages(request):
                    pass
        return recorded


def _recorded(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The response once its event is written, else the "not recorded" answer."""
    try:
        record_request(request, response)
    except DatabaseError:
        logger.exception("Audit event not written for %s %s", request.method, _url_name(request))
        return _not_recorded(request)
    return response


def _audited_path(request: HttpRequest) -> bool:
    try:
        return resolve(request.path_info).view_name in AUDITED
    except Resolver404:
        return False


def _url_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else "?"


def _not_recorded(request: HttpRequest) -> HttpResponse:
    message = _(
        "This request could not be recorded in the audit log, so nothing was saved and "
        "nothing is shown. Please try again in a minute."
    )
    if request.path_info.startswith("/api/"):
        return JsonResponse(error_body(503, "audit_unavailable", str(message)), status=503)
    return render(request, "503.html", {"message": message}, status=503)


# --- logins ------------------------------------------------------------------------------


@receiver(user_logged_in, dispatch_uid="alliance.security.audit.login")
def _logged_in(sender, request, user, **kwargs) -> None:
    audit_record(action=Action.LOGIN, request=request, user=user, object_type="user")


@receiver(user_logged_out, dispatch_uid="alliance.security.audit.logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit_record(action=Action.LOGOUT, request=request, user=user, object_type="user")


@receiver(user_login_failed, dispatch_uid="alliance.security.audit.login_failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    """The username tried, never the password (Django has already masked it anyway)."""
    username = str(credentials.get("username") or "")[:150]
    clinic_id = (
        User.objects.filter(username=username).values_list("clinic_id", flat=True).first()
        if username
        else None
    )
    audit_record(
        action=Action.LOGIN_FAILED,
        request=request,
        user=None,
        username=username,
        roles="",
        clinic_id=clinic_id,
        object_type="user",
    )
