"""Token authentication: get a token with a username and password, use it, revoke it."""

import datetime as dt

import pytest
import time_machine
from django.contrib import admin
from rest_framework.authtoken.models import Token

from tests.api.conftest import api_client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/token/"


def test_a_token_for_a_username_and_password_lists_the_users_clients(
    client, therapist, client_of_therapist
):
    response = client.post(
        URL, {"username": "therapist", "password": "correct horse battery"}, "application/json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    listed = client.get("/api/v1/clients/", HTTP_AUTHORIZATION=f"Token {token}")
    assert [row["code"] for row in listed.json()["results"]] == ["R-0001"]
    again = client.post(URL, {"username": "therapist", "password": "correct horse battery"})
    assert again.json()["token"] == token


def test_wrong_password_is_400_in_the_error_shape(client, therapist):
    response = client.post(URL, {"username": "therapist", "password": "nope"}, "application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"] == "Unable to log in with the username and password given."
    assert not Token.objects.exists()


def test_inactive_users_get_no_token_and_their_token_stops_working(client, therapist):
    token = Token.objects.create(user=therapist)
    therapist.is_active = False
    therapist.save()
    response = client.post(URL, {"username": "therapist", "password": "correct horse battery"})
    assert response.status_code == 400
    listed = client.get("/api/v1/clients/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert listed.status_code == 401


def test_anonymous_requests_are_401_and_say_how_to_authenticate(client, db):
    response = client.get("/api/v1/clients/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "error": {
            "status": 401,
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
        }
    }
    bad = client.get("/api/v1/clients/", HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "authentication_failed"


def test_the_user_revokes_their_token(therapist):
    api = api_client_for(therapist)
    assert api.get("/api/v1/clients/").status_code == 200
    assert api.delete(URL).status_code == 204
    assert not Token.objects.filter(user=therapist).exists()
    assert api.get("/api/v1/clients/").status_code == 401


def test_session_authentication_works_too(client, therapist, client_of_therapist):
    client.force_login(therapist)
    assert client.get("/api/v1/clients/").json()["count"] == 1


def test_the_django_admin_never_shows_token_keys():
    # Django's token pages name a token by its key; tokens end with a deactivation or reset.
    assert not admin.site.is_registered(Token)
    assert not any(model._meta.model_name == "tokenproxy" for model in admin.site._registry)


def test_password_guessing_is_throttled(client, therapist, other_therapist):
    for _ in range(20):
        client.post(URL, {"username": "therapist", "password": "guess"})
    response = client.post(URL, {"username": "therapist", "password": "correct horse battery"})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    # Signing in (or a forged X-Forwarded-For) does not lift the limit.
    client.force_login(other_therapist)
    forged = client.post(
        URL,
        {"username": "therapist", "password": "correct horse battery"},
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert forged.status_code == 429


def test_a_token_expires_after_the_clinics_token_lifetime_and_asking_again_renews_it(
    client, therapist, client_of_therapist, settings
):
    """A token works for ALLIANCE_API_TOKEN_DAYS after it is issued; after that it answers
    401 saying it expired, and asking with the password gives a new one."""
    settings.ALLIANCE_API_TOKEN_DAYS = 30
    credentials = {"username": "therapist", "password": "correct horse battery"}
    issued = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(issued, tick=False):
        first = client.post(URL, credentials).json()
    assert dt.datetime.fromisoformat(first["expires_at"]) == issued + dt.timedelta(days=30)
    auth = {"HTTP_AUTHORIZATION": f"Token {first['token']}"}
    with time_machine.travel(issued + dt.timedelta(days=29, hours=23), tick=False):
        assert client.get("/api/v1/clients/", **auth).status_code == 200
        assert client.post(URL, credentials).json()["token"] == first["token"]
    with time_machine.travel(issued + dt.timedelta(days=30), tick=False):
        expired = client.get("/api/v1/clients/", **auth)
        assert expired.status_code == 401
        assert expired.json()["error"]["message"].startswith("Token expired")
        renewed = client.post(URL, credentials).json()
        assert renewed["token"] != first["token"]
        listed = client.get("/api/v1/clients/", HTTP_AUTHORIZATION=f"Token {renewed['token']}")
        assert listed.status_code == 200
    assert list(Token.objects.filter(user=therapist).values_list("key", flat=True)) == [
        renewed["token"]
    ]


def test_a_lifetime_of_zero_days_keeps_tokens_until_revoked(client, therapist, settings):
    settings.ALLIANCE_API_TOKEN_DAYS = 0
    token = Token.objects.create(user=therapist)
    Token.objects.filter(pk=token.pk).update(created=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert (
        client.get("/api/v1/clients/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    )
    answer = client.post(URL, {"username": "therapist", "password": "correct horse battery"})
    assert answer.json() == {"token": token.key, "expires_at": None}
