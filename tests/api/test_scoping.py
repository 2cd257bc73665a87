"""Every endpoint x role x own/other object: what each role sees and may change.

own: an object of `therapist`'s client (supervised by `supervisor`); other: of
`other_therapist`'s client. Outside the scope is 404 (401 without credentials).
"""

import uuid

import pytest

from tests.api.conftest import ROLES

pytestmark = pytest.mark.django_db

# Who sees own and other objects.
SEES = {
    "therapist": {"own"},
    "other_therapist": {"other"},
    "supervisor": {"own"},
    "clinic_admin": {"own", "other"},
    "foreign_admin": set(),
}


def expected_read(role: str, which: str) -> int:
    if role == "anonymous":
        return 401
    return 200 if which in SEES[role] else 404


def _course(world, which):
    return getattr(world, which)


DETAIL_URLS = {
    "client": lambda c: f"/api/v1/clients/{c.client.pk}/",
    "client_fhir": lambda c: f"/api/v1/clients/{c.client.pk}/fhir/",
    "export_csv": lambda c: f"/api/v1/exports/ratings.csv?client={c.client.pk}",
    "export_xlsx": lambda c: f"/api/v1/exports/ratings.xlsx?client={c.client.pk}",
    "caseload": lambda c: f"/api/v1/caseload/?therapist={c.client.primary_therapist_id}",
    "export_caseload": lambda c: (
        f"/api/v1/exports/ratings.csv?therapist={c.client.primary_therapist_id}"
    ),
    "series": lambda c: f"/api/v1/clients/{c.client.pk}/series/",
    "session": lambda c: f"/api/v1/sessions/{c.held.pk}/",
    "rating": lambda c: f"/api/v1/ratings/{c.held.ratings.first().pk}/",
    "flag": lambda c: f"/api/v1/flags/{c.flag.pk}/",
    "episode": lambda c: f"/api/v1/episodes/{c.episode.pk}/",
}


@pytest.mark.parametrize("which", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(DETAIL_URLS))
def test_detail_reads(world, api_as, endpoint, role, which):
    url = DETAIL_URLS[endpoint](_course(world, which))
    response = api_as(role).get(url)
    assert response.status_code == expected_read(role, which), response.content
    if response.status_code != 200:
        assert response.json()["error"]["status"] == response.status_code


LIST_URLS = {
    "clients": ("/api/v1/clients/", lambda c: c.client.pk),
    "sessions": ("/api/v1/sessions/", lambda c: c.held.pk),
    "ratings": ("/api/v1/ratings/", lambda c: c.held.ratings.first().pk),
    "flags": ("/api/v1/flags/", lambda c: c.flag.pk),
    "episodes": ("/api/v1/episodes/", lambda c: c.episode.pk),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(LIST_URLS))
def test_lists_hold_exactly_the_scope(world, api_as, endpoint, role):
    url, key = LIST_URLS[endpoint]
    response = api_as(role).get(url, {"page_size": 500})
    if role == "anonymous":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    expected = {which for which in ("own", "other") if which in SEES[role]}
    for which in ("own", "other"):
        assert (key(_course(world, which)) in ids) == (which in expected)
    if endpoint in ("clients", "flags", "episodes"):
        assert len(ids) == len(expected)


def _rating_body(course, instruments):
    items = instruments["therapist"].definition["items"]
    return {
        "session": course.unrated.pk,
        "answers": {item["key"]: 4 for item in items},
        "submission_id": str(uuid.uuid4()),
    }


# Writes: only the own client's therapist may; everyone else who is signed in gets 404.
WRITES = {
    "rating_create": lambda w, c: ("post", "/api/v1/ratings/", _rating_body(c, w.instruments)),
    "session_create": lambda w, c: (
        "post",
        "/api/v1/sessions/",
        {"client": c.client.pk, "starts_at": "2024-01-02T10:00:00Z", "status": "completed"},
    ),
    "session_update": lambda w, c: ("patch", f"/api/v1/sessions/{c.unrated.pk}/", {"note": "x"}),
    "form_link": lambda w, c: ("post", f"/api/v1/sessions/{c.unrated.pk}/form-link/", {}),
    "client_update": lambda w, c: ("patch", f"/api/v1/clients/{c.client.pk}/", {"language": "es"}),
    "episode_acknowledge": lambda w, c: (
        "post",
        f"/api/v1/episodes/{c.episode.pk}/acknowledge/",
        {"action_note": "Talked it through", "action_session": c.unrated.pk},
    ),
    "episode_resolve": lambda w, c: ("post", f"/api/v1/episodes/{c.episode.pk}/resolve/", {}),
    "episode_comment": lambda w, c: (
        "post",
        f"/api/v1/episodes/{c.episode.pk}/comments/",
        {"text": "ok"},
    ),
}
SUCCESS = {"rating_create": 201, "session_create": 201, "form_link": 201, "episode_comment": 201}
# Besides the client's therapist: clinic admins change clients; supervisors comment on
# episodes.
ALSO_ALLOWED = {"client_update": "clinic_admin", "episode_comment": "supervisor"}


@pytest.mark.parametrize("which", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("write", sorted(WRITES))
def test_writes(world, api_as, write, role, which):
    method, url, body = WRITES[write](world, _course(world, which))
    response = getattr(api_as(role), method)(url, body, format="json")
    owner = {"own": "therapist", "other": "other_therapist"}[which]
    if role == "anonymous":
        expected = 401
    elif role == owner or (
        ALSO_ALLOWED.get(write) == role and role in SEES and which in SEES[role]
    ):
        expected = SUCCESS.get(write, 200)
    else:
        expected = 404
    assert response.status_code == expected, response.content


@pytest.mark.parametrize("which", ["own", "other"])
@pytest.mark.parametrize("role", ROLES)
def test_client_record_export_is_for_the_primary_therapist_and_admins(world, api_as, role, which):
    course = _course(world, which)
    response = api_as(role).get(f"/api/v1/exports/clients/{course.client.pk}/record.xlsx")
    owner = {"own": "therapist", "other": "other_therapist"}[which]
    expected = 401 if role == "anonymous" else 200 if role in (owner, "clinic_admin") else 404
    assert response.status_code == expected


ROLE_ENDPOINTS = {
    # endpoint: roles answered 200 (other signed-in roles: 403, anonymous: 401)
    ("get", "/api/v1/supervision/"): {"supervisor"},
    ("post", "/api/v1/imports/ratings/"): {"clinic_admin", "foreign_admin"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(ROLE_ENDPOINTS))
def test_role_endpoints(world, api_as, endpoint, role):
    method, url = endpoint
    body = b"client_code,session_number,rater,bond_1\nOWN-1,2,client,4\n"
    kwargs = {"data": body, "content_type": "text/csv"} if method == "post" else {}
    response = getattr(api_as(role), method)(url, **kwargs)
    if role == "anonymous":
        assert response.status_code == 401
    elif role in ROLE_ENDPOINTS[endpoint]:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_an_import_only_ever_reaches_the_admins_own_clinic(world, api_as):
    body = b"client_code,session_number,rater,bond_1\nOWN-1,2,client,4\n"
    report = api_as("foreign_admin").post(
        "/api/v1/imports/ratings/", data=body, content_type="text/csv"
    )
    assert report.json()["problems"][0]["message"] == "No client \u201cOWN-1\u201d in this clinic."
    mine = api_as("clinic_admin").post(
        "/api/v1/imports/ratings/", data=body, content_type="text/csv"
    )
    assert mine.json() | {"problems": []} == {
        "applied": False,
        "rows": 1,
        "ratings": 1,
        "sessions_to_create": 0,
        "clients": ["OWN-1"],
        "problems": [],
        "warnings": [],
    }


@pytest.mark.parametrize("role", ROLES)
def test_scope_wide_reads(world, api_as, role):
    """Instruments are for everyone signed in; the FHIR bundle and the clinic export hold
    exactly the user's scope."""
    api = api_as(role)
    if role == "anonymous":
        for url in ("/api/v1/instruments/", "/api/v1/fhir/bundle/", "/api/v1/exports/ratings.csv"):
            assert api.get(url).status_code == 401
        return
    assert api.get("/api/v1/instruments/").json()["count"] == 2
    bundle = api.get("/api/v1/fhir/bundle/").json()
    subjects = {
        entry["resource"]["subject"]["identifier"]["value"]
        for entry in bundle["entry"]
        if "subject" in entry["resource"]
    }
    export = b"".join(api.get("/api/v1/exports/ratings.csv").streaming_content).decode()
    codes = {"own": "OWN-1", "other": "OTHER-1"}
    assert subjects == {codes[which] for which in SEES[role]}
    for which, code in codes.items():
        assert (code in export) == (which in SEES[role])
