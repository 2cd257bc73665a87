"""The client's address and the limits counted per address: with no trusted proxy a forged
X-Forwarded-For changes nothing (lockout, form-link rate limit, audit log); password
spraying from one address is limited across usernames (login page, admin, API token); an
over-long username is a failed login, never a server error."""

import pytest
from axes.models import AccessAttempt
from django.test import Client as BrowserClient
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from alliance.models import AccessEvent
from tests.factories import UserFactory
from tests.security.conftest import PASSWORD

pytestmark = pytest.mark.django_db

WRONG = "not the password at all"
ADDRESS = "198.51.100.23"
TOKEN_URL = "/api/v1/auth/token/"


def forged(n: int) -> dict:
    """A request from ADDRESS claiming, in X-Forwarded-For, to come from somewhere else."""
    return {"REMOTE_ADDR": ADDRESS, "HTTP_X_FORWARDED_FOR": f"203.0.113.{n}"}


def log_in(browser, username="therapist", password=PASSWORD, url=None, **extra):
    url = url or reverse("login")
    return browser.post(url, {"username": username, "password": password}, **extra)


class TestForgedForwardedFor:
    """ALLIANCE_TRUSTED_PROXIES=0 (the default, and `make serve`'s): REMOTE_ADDR counts."""

    def test_rotating_forged_addresses_do_not_escape_the_lockout(self, therapist, settings):
        assert settings.ALLIANCE_TRUSTED_PROXIES == 0
        for n in range(5):
            log_in(BrowserClient(), password=WRONG, **forged(n))
        assert log_in(BrowserClient(), **forged(99)).status_code == 429
        assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ADDRESS}

    def test_rotating_forged_addresses_do_not_escape_the_form_links_limit(self, world, settings):
        settings.ALLIANCE_FORM_ADDRESS_RATE_LIMIT = 3
        url = reverse("client_form", args=[world.own.token])
        statuses = [BrowserClient().get(url, **forged(n)).status_code for n in range(4)]
        assert statuses == [200, 200, 200, 429]

    def test_the_audit_log_records_the_real_address(self, world):
        browser = BrowserClient()
        browser.force_login(world.users["therapist"])
        browser.get(reverse("client_detail", args=[world.own.client.pk]), **forged(1))
        log_in(BrowserClient(), password=WRONG, **forged(2))
        read = AccessEvent.objects.get(action="read", url_name="client_detail")
        failed = AccessEvent.objects.get(action="login-failed")
        assert (read.ip, failed.ip) == (ADDRESS, ADDRESS)

    def test_behind_a_trusted_proxy_a_malformed_entry_is_not_an_address(self, therapist, settings):
        settings.ALLIANCE_TRUSTED_PROXIES = 1
        log_in(BrowserClient(), password=WRONG, REMOTE_ADDR=ADDRESS, HTTP_X_FORWARDED_FOR="x'--")
        assert AccessEvent.objects.get(action="login-failed").ip == ADDRESS


class TestPasswordSpraying:
    """ALLIANCE_LOGIN_ADDRESS_FAILURE_LIMIT (30) failures from one address, whatever the
    usernames, refuse every login from it for the rest of the 15 minutes."""

    def spray(self, count=30, address=ADDRESS):
        for n in range(count):
            log_in(BrowserClient(), f"guess-{n}", WRONG, REMOTE_ADDR=address)

    def test_thirty_failures_across_usernames_lock_the_address(self, therapist):
        self.spray(29)
        # Each username is far below its own lockout; the address is one short of its limit.
        assert log_in(BrowserClient(), password=WRONG, REMOTE_ADDR=ADDRESS).status_code == 200
        refused = log_in(BrowserClient(), REMOTE_ADDR=ADDRESS)  # the right password
        assert refused.status_code == 429
        assert "Too many failed logins from your address" in refused.content.decode()
        # Another address is counted on its own.
        assert log_in(BrowserClient(), REMOTE_ADDR="192.0.2.1").status_code == 302

    def test_a_success_does_not_reset_the_address_count(self, therapist):
        self.spray(29)
        assert log_in(BrowserClient(), REMOTE_ADDR=ADDRESS).status_code == 302
        log_in(BrowserClient(), "guess-x", WRONG, REMOTE_ADDR=ADDRESS)
        assert log_in(BrowserClient(), REMOTE_ADDR=ADDRESS).status_code == 429

    def test_the_admin_login_and_the_api_token_are_refused_too(self, therapist):
        UserFactory(username="root", clinic=None, is_staff=True, is_superuser=True)
        self.spray()
        admin = log_in(BrowserClient(), "root", url=reverse("admin:login"), REMOTE_ADDR=ADDRESS)
        assert admin.status_code == 429
        api = APIClient().post(
            TOKEN_URL, {"username": "therapist", "password": PASSWORD}, REMOTE_ADDR=ADDRESS
        )
        assert api.status_code == 429
        error = api.json()["error"]
        assert (error["code"], error["message"]) == (
            "locked_out",
            "Too many failed logins from your address. Try again in at most 15 minutes.",
        )
        assert not Token.objects.exists()

    def test_the_api_token_endpoints_failures_count_too(self, therapist, settings):
        settings.ALLIANCE_LOGIN_ADDRESS_FAILURE_LIMIT = 3
        api = APIClient()
        for n in range(3):
            api.post(TOKEN_URL, {"username": f"guess-{n}", "password": WRONG}, REMOTE_ADDR=ADDRESS)
        assert log_in(BrowserClient(), REMOTE_ADDR=ADDRESS).status_code == 429


class TestOverlongUsername:
    LONG = "u" * 300

    @pytest.mark.parametrize("url_name", ["login", "admin:login"])
    def test_the_login_form_answers_a_failed_login(self, db, url_name):
        response = log_in(BrowserClient(), self.LONG, WRONG, url=reverse(url_name))
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()
        # Counted under the first 150 characters (axes keeps at most 255).
        assert AccessAttempt.objects.get().username == "u" * 150

    def test_it_still_locks_out(self, db):
        for _ in range(5):
            log_in(BrowserClient(), self.LONG, WRONG, REMOTE_ADDR=ADDRESS)
        assert log_in(BrowserClient(), self.LONG, WRONG, REMOTE_ADDR=ADDRESS).status_code == 429

    def test_the_api_token_endpoint_answers_400_in_its_error_shape(self, db):
        response = APIClient().post(
            TOKEN_URL, {"username": self.LONG, "password": WRONG}, format="json"
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid"
        assert "no more than 150 characters" in error["fields"]["username"][0]
