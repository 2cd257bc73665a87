"""Cache-Control: no-store on every error answer (pages and API, signed in or not) and on
every signed-in page (alliance.security.middleware.NoStoreMiddleware)."""

import pytest
from django.test import Client as BrowserClient
from django.urls import include, path
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def _fails(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", _fails), path("", include("alliance.urls"))]


def no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_error_pages_for_anyone_are_not_stored():
    browser = BrowserClient()
    not_found = browser.get("/no-such-page/")
    assert (not_found.status_code, no_store(not_found)) == (404, True)
    bad_host = browser.get("/login/", HTTP_HOST="evil.example")
    assert (bad_host.status_code, no_store(bad_host)) == (400, True)
    csrf = BrowserClient(enforce_csrf_checks=True).post("/login/", {"username": "x"})
    assert (csrf.status_code, no_store(csrf)) == (403, True)


@pytest.mark.urls(__name__)
def test_a_server_error_is_not_stored():
    response = BrowserClient(raise_request_exception=False).get("/boom/")
    assert (response.status_code, no_store(response)) == (500, True)


def test_api_errors_are_not_stored(therapist):
    api = APIClient()
    anonymous = api.get("/api/v1/clients/")
    assert (anonymous.status_code, no_store(anonymous)) == (401, True)
    api.force_authenticate(therapist)
    missing = api.get("/api/v1/clients/999999/")
    assert (missing.status_code, no_store(missing)) == (404, True)


def test_signed_in_pages_are_not_stored(therapist):
    browser = BrowserClient()
    browser.force_login(therapist)
    assert no_store(browser.get("/caseload/"))
