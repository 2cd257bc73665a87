"""Every URL pattern x every role x own/other object, against one expected table.

The URL patterns come from the resolver (admin and static files excepted), so a new URL
fails test_every_url_is_classified until it has a row in CASES below and an entry in the
audit log's table (alliance.security.audit). Roles: anonymous, a client holding a valid form link,
therapist, other therapist, supervisor, another clinic's admin, clinic admin. Objects:
"own" belongs to the therapist's client (supervised by the supervisor), "other" to the
other therapist's client (same clinic); for people and supervision links "own" is in the
clinic and "other" in the other clinic. Outside the scope is 404; anonymous users are sent
to log in (pages) or get 401 (API). Every 200 answer is also checked for client codes the
role may not see, so a list or an export that leaks a row fails here.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from alliance.jobs import services as job_services
from alliance.models import ClientContact, Job
from alliance.notify.reminders import stop_token
from alliance.security.audit import AUDITED, NOT_AUDITED
from tests.security.conftest import ANONYMOUS, CODES, ROLES, api_for, browser_for

pytestmark = pytest.mark.django_db

LOGIN = "login"  # 302 to the login page
KINDS = ("own", "other")

# Who may see, treat, change and administer each kind of object.
SEE = {
    "own": {"therapist", "supervisor", "clinic_admin"},
    "other": {"other_therapist", "clinic_admin"},
}
TREAT = {"own": {"therapist"}, "other": {"other_therapist"}}
CHANGE = {"own": {"therapist", "clinic_admin"}, "other": {"other_therapist", "clinic_admin"}}
CLINIC_ADMIN = {"own": {"clinic_admin"}, "other": {"clinic_admin"}}
COMMENT = {"own": {"therapist", "supervisor"}, "other": {"other_therapist"}}
# People and supervision links: "own" is in the clinic, "other" in the other clinic.
ITS_ADMIN = {"own": {"clinic_admin"}, "other": {"other_clinic_admin"}}
SIGNED_IN = set(ROLES) - ANONYMOUS
ADMINS = {"clinic_admin", "other_clinic_admin"}
# The client codes each role may see anywhere.
VISIBLE = {
    "anonymous": set(),
    "link_holder": set(),
    "therapist": {"own"},
    "other_therapist": {"other"},
    "supervisor": {"own"},
    "clinic_admin": {"own", "other"},
    "other_clinic_admin": {"foreign"},
}


def scoped(ok: int, who: dict[str, set[str]], anonymous=LOGIN) -> Callable[[str, str], object]:
    """ok for the roles allowed on the object, 404 for every other signed-in role."""

    def expect(role: str, kind: str):
        if role in ANONYMOUS:
            return anonymous
        return ok if role in who[kind] else 404

    return expect


def by_role(ok: int, roles: set[str], other: int = 404, anonymous=LOGIN):
    """For URLs without an object: ok for these roles, `other` for the rest."""

    def expect(role: str, kind: str):
        if role in ANONYMOUS:
            return anonymous
        return ok if role in roles else other

    return expect


# A therapist's caseload (own: the therapist's, other: the other therapist's).
PACKET = scoped(
    200,
    {
        "own": {"therapist", "supervisor", "clinic_admin"},
        "other": {"other_therapist", "clinic_admin"},
    },
)


def everyone(status, anonymous=None):
    return lambda role, kind: anonymous if anonymous is not None and role in ANONYMOUS else status


def api(ok: int, who) -> Callable[[str, str], object]:
    return scoped(ok, who, anonymous=401)


def api_roles(ok: int, roles: set[str], other: int = 404):
    return by_role(ok, roles, other, anonymous=401)


@dataclass
class Case:
    """One request: method, path (from the world and the object kind), expected statuses."""

    method: str
    path: Callable
    expect: Callable[[str, str], object]
    kinds: tuple[str, ...] = KINDS
    data: dict = field(default_factory=dict)
    api: bool = False


def page(name: str, obj: Callable | None = None):
    """A path builder: reverse(name) with the object's id, if any."""
    if obj is None:
        return lambda world, kind: reverse(name)
    return lambda world, kind: reverse(name, args=[obj(world, kind)])


def course(world, kind):
    return getattr(world, kind)


def CLIENT(world, kind):
    return course(world, kind).client.pk


def HELD(world, kind):
    return course(world, kind).held.pk


def UNRATED(world, kind):
    return course(world, kind).unrated.pk


def FLAG(world, kind):
    return course(world, kind).flag.pk


def EPISODE(world, kind):
    return course(world, kind).episode.pk


def NOTICE(world, kind):
    return course(world, kind).notice.pk


def RATING(world, kind):
    return course(world, kind).rating.pk


def THERAPIST(world, kind):
    return world.users["therapist" if kind == "own" else "other_therapist"].pk


def PERSON(world, kind):
    return (world.users["other_therapist"] if kind == "own" else world.foreign_therapist).pk


def SUPERVISION(world, kind):
    return (world.supervision if kind == "own" else world.foreign_supervision).pk


def JOB(world, kind):
    """A done export of the therapist (own) or the other therapist (other), its file kept:
    a job is its requester's only."""
    requester = world.users["therapist" if kind == "own" else "other_therapist"]
    name = job_services.job_file_write(
        job_id=None, suffix=".csv", write=lambda out: out.write(b"client_code\n")
    )
    return Job.objects.create(
        kind=Job.Kind.RATINGS_CSV,
        clinic=requester.clinic,
        requested_by=requester,
        state=Job.State.DONE,
        file=name,
        filename="ratings.csv",
        content_type="text/csv",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    ).pk


ONE = ("own",)


def token_path(name):
    """The own course's live form link; "other" is a token nobody was given."""

    def build(world, kind):
        token = world.own.token if kind == "own" else "not-a-token-anybody-was-given"
        return reverse(name, args=[token])

    return build


def stop_path(world, kind):
    """The own client's "stop reminders" link (to their stored address); "other" a token
    nobody signed."""
    if kind != "own":
        return reverse("reminders_stop", args=["MQ:forged:signature"])
    contact, _made = ClientContact.objects.get_or_create(
        client=world.own.client,
        defaults={"address": "own@mail.example", "consent_recorded_at": timezone.now()},
    )
    token = stop_token(contact)
    return reverse("reminders_stop", args=[token])


def api_path(template: str, obj: Callable | None = None):
    if obj is None:
        return lambda world, kind: template
    return lambda world, kind: template.format(obj(world, kind))


# URL key (name, or the route of an unnamed pattern) -> its requests.
CASES: dict[str, list[Case]] = {
    # --- accounts ------------------------------------------------------------------------
    "home": [Case("get", page("home"), everyone(302, anonymous=LOGIN), ONE)],
    "login": [Case("get", page("login"), by_role(302, SIGNED_IN, anonymous=200), ONE)],
    "logout": [Case("post", page("logout"), everyone(LOGIN), ONE)],
    "password_change": [Case("get", page("password_change"), everyone(200, LOGIN), ONE)],
    "password_set": [
        Case(
            "get",
            lambda world, kind: reverse("password_set", args=["MQ", "not-a-token"]),
            everyone(200),
            ONE,
        )
    ],
    "password_reset": [Case("get", page("password_reset"), everyone(200), ONE)],
    "password_reset_done": [Case("get", page("password_reset_done"), everyone(200), ONE)],
    "set_language": [Case("post", page("set_language"), everyone(302), ONE)],
    "two_factor_setup": [Case("get", page("two_factor_setup"), everyone(200, LOGIN), ONE)],
    "two_factor_enrol": [
        Case(
            "get",
            lambda world, kind: reverse("two_factor_enrol", args=["MQ", "not-a-token"]),
            everyone(400, LOGIN),
            ONE,
        )
    ],
    "two_factor_verify": [Case("get", page("two_factor_verify"), everyone(302, LOGIN), ONE)],
    "two_factor_disable": [Case("post", page("two_factor_disable"), everyone(302, LOGIN), ONE)],
    # --- caseloads and clients -----------------------------------------------------------
    "caseload": [
        Case("get", page("caseload"), by_role(200, {"therapist", "other_therapist"}, 302), ONE)
    ],
    "client_list": [Case("get", page("client_list"), everyone(200, LOGIN), ONE)],
    "supervision": [Case("get", page("supervision"), by_role(200, {"supervisor"}, 302), ONE)],
    "therapist_caseload": [
        Case(
            "get",
            page("therapist_caseload", THERAPIST),
            lambda role, kind: {
                ("therapist", "own"): 302,  # their own caseload page
                ("other_therapist", "other"): 302,
                ("supervisor", "own"): 200,
                ("clinic_admin", "own"): 200,
                ("clinic_admin", "other"): 200,
            }.get((role, kind), LOGIN if role in ANONYMOUS else 404),
        )
    ],
    # Supervision packets: a therapist's own, a supervisee's, anyone's for a clinic admin.
    **{
        name: [Case("get", page(name, THERAPIST), PACKET)]
        for name in (
            "therapist_packet",
            "therapist_packet_xlsx",
            "therapist_packet_clients_csv",
            "therapist_packet_sessions_csv",
        )
    },
    **{
        name: [Case("get", page(name, CLIENT), scoped(200, SEE))]
        for name in (
            "client_packet",
            "client_packet_xlsx",
            "client_packet_clients_csv",
            "client_packet_sessions_csv",
        )
    },
    "clinic_overview": [
        Case("get", page("clinic_overview"), by_role(200, ADMINS), ONE),
        Case("post", page("clinic_overview"), by_role(302, ADMINS), ONE),  # "Refresh now"
    ],
    "client_create": [
        Case(
            "get",
            page("client_create"),
            by_role(200, {"therapist", "other_therapist", *ADMINS}),
            ONE,
        )
    ],
    "client_detail": [Case("get", page("client_detail", CLIENT), scoped(200, SEE))],
    "client_edit": [Case("get", page("client_edit", CLIENT), scoped(200, CHANGE))],
    "client_transfer": [Case("get", page("client_transfer", CLIENT), scoped(200, CLINIC_ADMIN))],
    "client_export_csv": [Case("get", page("client_export_csv", CLIENT), scoped(200, SEE))],
    "client_export_xlsx": [Case("get", page("client_export_xlsx", CLIENT), scoped(200, SEE))],
    "client_export_record": [
        Case("get", page("client_export_record", CLIENT), scoped(200, CHANGE))
    ],
    "client_access": [Case("get", page("client_access", CLIENT), scoped(200, CLINIC_ADMIN))],
    # The world's clinics store client contact details (tests/security/conftest.py).
    "client_contact": [Case("get", page("client_contact", CLIENT), scoped(200, CHANGE))],
    "client_contact_withdraw": [
        Case("post", page("client_contact_withdraw", CLIENT), scoped(302, CHANGE))
    ],
    # The client's stop link: no login; a forged token is a clear 400 for everyone.
    "reminders_stop": [
        Case("get", stop_path, lambda role, kind: 200 if kind == "own" else 400),
        Case("post", stop_path, lambda role, kind: 200 if kind == "own" else 400),
    ],
    # --- episodes and flags --------------------------------------------------------------
    "episode_detail": [Case("get", page("episode_detail", EPISODE), scoped(200, SEE))],
    "episode_acknowledge": [Case("post", page("episode_acknowledge", EPISODE), scoped(400, TREAT))],
    "episode_resolve": [Case("post", page("episode_resolve", EPISODE), scoped(302, TREAT))],
    "episode_comment": [Case("post", page("episode_comment", EPISODE), scoped(400, COMMENT))],
    # An old link to a flag leads to its episode.
    "flag_detail": [Case("get", page("flag_detail", FLAG), scoped(302, SEE))],
    # --- alerts and a person's own settings -----------------------------------------------
    # Anyone signed in has a (maybe empty) list of their own alerts and their settings.
    "notice_list": [Case("get", page("notice_list"), everyone(200, LOGIN), ONE)],
    "notices_read_all": [Case("post", page("notices_read_all"), everyone(302, LOGIN), ONE)],
    # An alert is its recipient's only: the client's therapist (not the supervisor or admin).
    "notice_read": [Case("post", page("notice_read", NOTICE), scoped(302, TREAT))],
    "user_settings": [
        Case("get", page("user_settings"), everyone(200, LOGIN), ONE),
        Case("post", page("user_settings"), everyone(400, LOGIN), ONE, data={"language": "xx"}),
    ],
    # --- clinic administration -----------------------------------------------------------
    "clinic": [Case("get", page("clinic"), by_role(200, ADMINS), ONE)],
    "clinic_user_create": [Case("get", page("clinic_user_create"), by_role(200, ADMINS), ONE)],
    "clinic_user": [Case("get", page("clinic_user", PERSON), scoped(200, ITS_ADMIN))],
    "clinic_user_deactivate": [
        Case("post", page("clinic_user_deactivate", PERSON), scoped(302, ITS_ADMIN))
    ],
    "clinic_user_reactivate": [
        Case("post", page("clinic_user_reactivate", PERSON), scoped(302, ITS_ADMIN))
    ],
    "clinic_user_password_reset": [
        Case("post", page("clinic_user_password_reset", PERSON), scoped(302, ITS_ADMIN))
    ],
    "clinic_user_two_factor_reset": [
        Case("post", page("clinic_user_two_factor_reset", PERSON), scoped(302, ITS_ADMIN))
    ],
    "clinic_rules": [Case("get", page("clinic_rules"), by_role(200, ADMINS), ONE)],
    "clinic_supervision_add": [
        Case("post", page("clinic_supervision_add"), by_role(400, ADMINS), ONE)
    ],
    "clinic_supervision_remove": [
        Case("post", page("clinic_supervision_remove", SUPERVISION), scoped(302, ITS_ADMIN))
    ],
    "clinic_security": [Case("get", page("clinic_security"), by_role(200, ADMINS), ONE)],
    "audit_log": [Case("get", page("audit_log"), by_role(200, ADMINS), ONE)],
    "audit_log_csv": [Case("get", page("audit_log_csv"), by_role(200, ADMINS), ONE)],
    # --- background jobs: exports, the import, a job's pages (its requester's only) -------
    "exports": [
        Case("get", page("exports"), by_role(200, SIGNED_IN), ONE),
        Case("post", page("exports"), by_role(400, SIGNED_IN), ONE),  # no export chosen
    ],
    "ratings_import": [
        Case("get", page("ratings_import"), by_role(200, ADMINS), ONE),
        Case("post", page("ratings_import"), by_role(400, ADMINS), ONE),  # no file
    ],
    "job_detail": [Case("get", page("job_detail", JOB), scoped(200, TREAT))],
    "job_status": [Case("get", page("job_status", JOB), scoped(200, TREAT))],
    "job_download": [Case("get", page("job_download", JOB), scoped(200, TREAT))],
    # A job that did not fail: back to its page.
    "job_retry": [Case("post", page("job_retry", JOB), scoped(302, TREAT))],
    # --- sessions and ratings ------------------------------------------------------------
    "session_new": [Case("get", page("session_new", CLIENT), scoped(200, TREAT))],
    "session_detail": [Case("get", page("session_detail", HELD), scoped(200, SEE))],
    "session_answers": [Case("get", page("session_answers", HELD), scoped(200, SEE))],
    "session_edit": [Case("get", page("session_edit", HELD), scoped(200, TREAT))],
    "session_status": [Case("post", page("session_status", UNRATED), scoped(302, TREAT))],
    "rating_new": [Case("get", page("rating_new", UNRATED), scoped(200, TREAT))],
    "rating_edit": [Case("get", page("rating_edit", HELD), scoped(200, TREAT))],
    # --- the client's form ---------------------------------------------------------------
    "client_form": [
        Case("get", token_path("client_form"), lambda role, kind: 200 if kind == "own" else 404)
    ],
    "client_form_thanks": [
        Case(
            "get",
            token_path("client_form_thanks"),
            lambda role, kind: 302 if kind == "own" else 404,  # not sent yet: to the form
        )
    ],
    "kiosk_form": [Case("get", page("kiosk_form"), everyone(404), ONE)],
    "kiosk_done": [Case("get", page("kiosk_done"), everyone(404), ONE)],
    "kiosk_hand_back": [Case("get", page("kiosk_hand_back"), everyone(302), ONE)],
    "formlink_new": [Case("post", page("formlink_new", UNRATED), scoped(200, TREAT))],
    "kiosk_hand_over": [Case("post", page("kiosk_hand_over", UNRATED), scoped(302, TREAT))],
    "formlink_email": [Case("post", page("formlink_email", UNRATED), scoped(400, TREAT))],
    # --- API -----------------------------------------------------------------------------
    "api-auth-token": [Case("post", api_path("/api/v1/auth/token/"), everyone(400), ONE, api=True)],
    "api-caseload": [
        Case("get", api_path("/api/v1/caseload/"), api_roles(200, SIGNED_IN), ONE, api=True)
    ],
    "api-supervision": [
        Case(
            "get",
            api_path("/api/v1/supervision/"),
            api_roles(200, {"supervisor"}, other=403),
            ONE,
            api=True,
        )
    ],
    "api-import-ratings": [
        # Past the clinic-admin check, a JSON body is the wrong media type for a CSV import.
        Case(
            "post",
            api_path("/api/v1/imports/ratings/"),
            api_roles(415, ADMINS, other=403),
            ONE,
            api=True,
        )
    ],
    "api-fhir-bundle": [
        Case("get", api_path("/api/v1/fhir/bundle/"), api_roles(200, SIGNED_IN), ONE, api=True)
    ],
    "api-client-fhir": [
        Case("get", api_path("/api/v1/clients/{}/fhir/", CLIENT), api(200, SEE), api=True)
    ],
    "api-export-ratings-csv": [
        Case(
            "get",
            api_path("/api/v1/exports/ratings.csv?client={}", CLIENT),
            api(200, SEE),
            api=True,
        )
    ],
    "api-export-ratings-xlsx": [
        Case(
            "get",
            api_path("/api/v1/exports/ratings.xlsx?client={}", CLIENT),
            api(200, SEE),
            api=True,
        )
    ],
    "api-export-client-record": [
        Case(
            "get",
            api_path("/api/v1/exports/clients/{}/record.xlsx", CLIENT),
            api(200, CHANGE),
            api=True,
        )
    ],
    "api-client-list": [
        Case("get", api_path("/api/v1/clients/"), api_roles(200, SIGNED_IN), ONE, api=True),
        # An empty body adds a client with the next suggested code to a therapist's own
        # caseload; a clinic admin must name the primary therapist; a supervisor adds none.
        Case(
            "post",
            api_path("/api/v1/clients/"),
            lambda role, kind: {"therapist": 201, "other_therapist": 201, "supervisor": 404}.get(
                role, 401 if role in ANONYMOUS else 400
            ),
            ONE,
            api=True,
        ),
    ],
    "api-client-detail": [
        Case("get", api_path("/api/v1/clients/{}/", CLIENT), api(200, SEE), api=True),
        Case("patch", api_path("/api/v1/clients/{}/", CLIENT), api(200, CHANGE), api=True),
    ],
    "api-client-series": [
        Case("get", api_path("/api/v1/clients/{}/series/", CLIENT), api(200, SEE), api=True)
    ],
    "api-client-transfer": [
        Case(
            "post",
            api_path("/api/v1/clients/{}/transfer/", CLIENT),
            api(400, CLINIC_ADMIN),
            api=True,
        )
    ],
    "api-session-list": [
        Case("get", api_path("/api/v1/sessions/"), api_roles(200, SIGNED_IN), ONE, api=True),
        Case("post", api_path("/api/v1/sessions/"), api_roles(400, SIGNED_IN), ONE, api=True),
    ],
    "api-session-detail": [
        Case("get", api_path("/api/v1/sessions/{}/", HELD), api(200, SEE), api=True),
        Case("patch", api_path("/api/v1/sessions/{}/", HELD), api(200, TREAT), api=True),
    ],
    "api-session-form-link": [
        Case("post", api_path("/api/v1/sessions/{}/form-link/", UNRATED), api(201, TREAT), api=True)
    ],
    "api-rating-list": [
        Case("get", api_path("/api/v1/ratings/"), api_roles(200, SIGNED_IN), ONE, api=True),
        Case("post", api_path("/api/v1/ratings/"), api_roles(400, SIGNED_IN), ONE, api=True),
    ],
    "api-rating-detail": [
        Case("get", api_path("/api/v1/ratings/{}/", RATING), api(200, SEE), api=True),
        Case("patch", api_path("/api/v1/ratings/{}/", RATING), api(400, TREAT), api=True),
    ],
    "api-instrument-list": [
        Case("get", api_path("/api/v1/instruments/"), api_roles(200, SIGNED_IN), ONE, api=True)
    ],
    "api-instrument-detail": [
        Case(
            "get",
            lambda world, kind: f"/api/v1/instruments/{world.instruments['client'].pk}/",
            api_roles(200, SIGNED_IN),
            ONE,
            api=True,
        )
    ],
    "api-episode-list": [
        Case("get", api_path("/api/v1/episodes/"), api_roles(200, SIGNED_IN), ONE, api=True)
    ],
    "api-episode-detail": [
        Case("get", api_path("/api/v1/episodes/{}/", EPISODE), api(200, SEE), api=True)
    ],
    "api-episode-acknowledge": [
        Case(
            "post", api_path("/api/v1/episodes/{}/acknowledge/", EPISODE), api(400, TREAT), api=True
        )
    ],
    "api-episode-resolve": [
        Case("post", api_path("/api/v1/episodes/{}/resolve/", EPISODE), api(200, TREAT), api=True)
    ],
    "api-episode-comments": [
        Case(
            "post", api_path("/api/v1/episodes/{}/comments/", EPISODE), api(400, COMMENT), api=True
        )
    ],
    "api-flag-list": [
        Case("get", api_path("/api/v1/flags/"), api_roles(200, SIGNED_IN), ONE, api=True)
    ],
    "api-flag-detail": [Case("get", api_path("/api/v1/flags/{}/", FLAG), api(200, SEE), api=True)],
    # Background jobs: a job is its requester's only; the clinic's FHIR bundle is an admin's.
    "api-job-list": [
        Case("get", api_path("/api/v1/jobs/"), api_roles(200, SIGNED_IN), ONE, api=True),
        Case(
            "post",
            api_path("/api/v1/jobs/"),
            api_roles(202, SIGNED_IN),
            ONE,
            data={"kind": "ratings_csv"},
            api=True,
        ),
        Case(
            "post",
            api_path("/api/v1/jobs/"),
            api_roles(202, ADMINS, other=403),
            ONE,
            data={"kind": "fhir_bundle"},
            api=True,
        ),
    ],
    "api-job-detail": [Case("get", api_path("/api/v1/jobs/{}/", JOB), api(200, TREAT), api=True)],
    "api-job-file": [
        Case("get", api_path("/api/v1/jobs/{}/file/", JOB), api(200, TREAT), api=True)
    ],
    "api-schema": [Case("get", api_path("/api/schema/"), everyone(200), ONE, api=True)],
    "api-docs": [Case("get", api_path("/api/docs/"), everyone(200), ONE, api=True)],
    # Anything else under /api/: the API's 404.
    "api/^.*$": [Case("get", api_path("/api/v1/no-such-thing/"), everyone(404), ONE, api=True)],
}


def url_keys() -> set[str]:
    """Every URL pattern's name (or route, when unnamed), admin and static files excepted."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if route.startswith("static/"):
                    continue
                yield pattern.name or route

    return set(walk(get_resolver().url_patterns))


def admin_url_names() -> set[str]:
    """The Django admin site's URL names, as the audit log names them ("admin:...")."""

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns)
            elif pattern.name:
                yield f"admin:{pattern.name}"

    [site] = [p for p in get_resolver().url_patterns if getattr(p, "namespace", "") == "admin"]
    return set(walk(site.url_patterns))


def test_every_url_is_classified():
    """A new URL fails here until it has a row in CASES and an audit classification (the
    admin site's pages too: tests/security/test_admin_site.py covers who reaches them)."""
    keys = url_keys()
    assert keys - set(CASES) == set(), "classify these URLs in CASES"
    assert set(CASES) - keys == set(), "these URLs no longer exist"
    named = {key for key in keys if "/" not in key} | admin_url_names()
    unclassified = named - set(AUDITED) - set(NOT_AUDITED)
    assert unclassified == set(), "add these to alliance.security.audit.AUDITED or NOT_AUDITED"
    assert set(AUDITED) & set(NOT_AUDITED) == set()
    admin_listed = {name for name in {*AUDITED, *NOT_AUDITED} if name.startswith("admin:")}
    assert admin_listed - admin_url_names() == set(), "these admin URLs no longer exist"


def _status(response):
    if response.status_code == 302 and response["Location"].startswith(reverse("login")):
        return LOGIN
    return response.status_code


def _leaks(role: str, response) -> set[str]:
    """Client codes in a 200 answer that the role may not see (text bodies only)."""
    if response.status_code != 200:
        return set()
    streaming = getattr(response, "streaming", False)
    body = b"".join(response.streaming_content) if streaming else response.content
    content_type = response.get("Content-Type", "")
    if not any(kind in content_type for kind in ("html", "json", "csv", "text")):
        return set()
    text = body.decode("utf-8", errors="replace")
    return {kind for kind, code in CODES.items() if code in text and kind not in VISIBLE[role]}


@pytest.mark.parametrize("key", sorted(CASES))
def test_matrix(world, key):
    expected, actual, leaks = {}, {}, {}
    for number, case in enumerate(CASES[key]):
        for role in ROLES:
            for kind in case.kinds:
                path = case.path(world, kind)
                requester = api_for(world, role) if case.api else browser_for(world, role)
                send = getattr(requester, case.method)
                if case.method == "get":
                    response = send(path)
                elif case.api:
                    response = send(path, case.data, format="json")
                else:
                    response = send(path, case.data)
                cell = (number, case.method, role, kind)
                expected[cell] = case.expect(role, kind)
                actual[cell] = _status(response)
                if case.api and role in ANONYMOUS and actual[cell] == 401:
                    assert response.json()["error"]["status"] == 401
                found = _leaks(role, response)
                if found:
                    leaks[cell] = found
    mismatches = {
        cell: (expected[cell], actual[cell]) for cell in expected if expected[cell] != actual[cell]
    }
    assert mismatches == {}, f"(case, method, role, kind): (expected, actual) for {key}"
    assert leaks == {}, f"out-of-scope client codes in answers to {key}"
