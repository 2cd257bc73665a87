"""Bad input anywhere answers a 4xx in the one error shape, never a 500."""

import pytest

from tests.api.conftest import api_client_for

pytestmark = pytest.mark.django_db

HUGE = "9" * 40


@pytest.fixture
def api(world):
    return api_client_for(world.users["therapist"])


def _assert_error(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["status"] == status
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"status", "code", "message", "fields"}
    return error


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/clients/?status=nope",
        "/api/v1/clients/?therapist=abc",
        f"/api/v1/clients/?therapist={HUGE}",
        "/api/v1/clients/?ordering=password",
        "/api/v1/clients/?ordering=code,,",
        f"/api/v1/sessions/?client={HUGE}",
        f"/api/v1/sessions/?number={HUGE}",
        "/api/v1/sessions/?number=1.5",
        "/api/v1/sessions/?starts_from=2024-13-45",
        "/api/v1/ratings/?rater=robot",
        f"/api/v1/ratings/?instrument={HUGE}",
        "/api/v1/ratings/?submitted_to=yesterday",
        "/api/v1/flags/?retired=perhaps",
        "/api/v1/flags/?rule=vibes",
        f"/api/v1/caseload/?therapist={HUGE}",
        "/api/v1/caseload/?sort=height",
        "/api/v1/exports/ratings.csv?client=-1",
        f"/api/v1/exports/ratings.csv?therapist={HUGE}",
    ],
)
def test_bad_query_parameters_are_400(api, url):
    error = _assert_error(api.get(url), 400)
    assert error["code"] == "invalid"
    assert error["fields"]


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/clients/{HUGE}/",
        f"/api/v1/sessions/{HUGE}/",
        f"/api/v1/ratings/{HUGE}/",
        f"/api/v1/flags/{HUGE}/",
        f"/api/v1/clients/{HUGE}/series/",
        "/api/v1/clients/abc/",
        "/api/v1/nothing-here/",
        "/api/v1/clients/?page=999",
        "/api/v1/clients/?page=last-but-one",
    ],
)
def test_unknown_objects_and_paths_are_404(api, url):
    assert _assert_error(api.get(url), 404)["code"] == "not_found"


def test_malformed_json_is_400(api):
    response = api.post("/api/v1/ratings/", data="{not json", content_type="application/json")
    assert _assert_error(response, 400)["code"] == "parse_error"


def test_unsupported_media_type_is_415(api):
    response = api.post("/api/v1/ratings/", data="<x/>", content_type="application/xml")
    assert _assert_error(response, 415)["code"] == "unsupported_media_type"


def test_unknown_method_is_405(api, world):
    response = api.delete(f"/api/v1/clients/{world.own.client.pk}/")
    assert _assert_error(response, 405)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "session"),
        ({"session": "one", "answers": {}}, "session"),
        ({"session": int(HUGE), "answers": {}}, "session"),
        ({"session": 1, "answers": []}, "answers"),
        ({"session": 1, "answers": {"bond_1": [4]}}, "answers"),
        ({"session": 1, "answers": {"bond_1": True}}, "answers"),
        ({"session": 1, "answers": {}, "submission_id": "not-a-uuid"}, "submission_id"),
        ({"session": 1, "answers": {}, "language": "fr"}, "language"),
        ({"session": 1, "answers": {f"k{n}": 1 for n in range(101)}}, "answers"),
    ],
)
def test_wrong_types_in_a_body_are_400_by_field(api, body, field):
    error = _assert_error(api.post("/api/v1/ratings/", body, format="json"), 400)
    assert field in error["fields"]


def test_answers_are_checked_by_the_instrument_item_by_item(api, world):
    body = (
        f'{{"session": {world.own.unrated.pk}, '
        '"answers": {"bond_1": 9, "goal_1": "x", "nonsense": 3, "task_1": 1e999}}'
    )
    response = api.post("/api/v1/ratings/", data=body, content_type="application/json")
    error = _assert_error(response, 400)
    assert set(error["fields"]) == {"bond_1", "goal_1", "nonsense", "task_1"}
    assert error["fields"]["bond_1"] == ["9 is out of range. Enter a whole number from 1 to 5."]


def test_not_a_number_is_refused_at_parse_time(api, world):
    response = api.post(
        "/api/v1/ratings/",
        data='{"session": 1, "answers": {"bond_1": NaN}}',
        content_type="application/json",
    )
    _assert_error(response, 400)


def test_huge_numbers_in_bodies_are_400_not_500(api, world):
    for url, body in [
        ("/api/v1/sessions/", {"client": int(HUGE), "starts_at": "2024-01-01T10:00:00Z"}),
        (f"/api/v1/clients/{world.own.client.pk}/transfer/", {"to_therapist": int(HUGE)}),
        ("/api/v1/clients/", {"primary_therapist": int(HUGE)}),
    ]:
        response = api.post(url, body, format="json")
        assert 400 <= response.status_code < 500, (url, response.content)
        _assert_error(response, response.status_code)


def test_a_server_error_in_the_api_answers_the_error_shape(api, world, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("alliance.api.views.ClientViewSet.list", fail)
    api.raise_request_exception = False
    response = api.get("/api/v1/clients/")
    error = _assert_error(response, 500)
    assert error["code"] == "server_error"
    assert "a bug" not in response.content.decode()
