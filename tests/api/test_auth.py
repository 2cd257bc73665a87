"""Token authentication: get a token with a username and password, use it, revoke it."""

import pytest
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


def test_admins_revoke_tokens_in_the_django_admin():
    assert admin.site.is_registered(Token) or any(
        model._meta.model_name == "tokenproxy" for model in admin.site._registry
    )


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
