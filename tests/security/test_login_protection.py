"""Login protection: lockout after repeated failures (login page, admin, API token), TOTP
two-factor sign-in, idle timeout and absolute lifetime, and what deactivation ends."""

import base64
import datetime as dt
import io

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client as BrowserClient
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from alliance.models import AccessEvent
from alliance.people import services as people_services
from alliance.security import services as services_security
from tests.conftest import browser_past_second_factor
from tests.factories import UserFactory
from tests.security.conftest import PASSWORD

pytestmark = pytest.mark.django_db

WRONG = "not the password at all"
FROM = {"REMOTE_ADDR": "198.51.100.23"}


# django-otp refuses every code for a second after a wrong one: the next try is later.
AFTER_THROTTLE = dt.timedelta(seconds=5)


def code_for(device: TOTPDevice, at: float | None = None) -> str:
    """The 6-digit code an authenticator app shows now for the device's key (RFC 6238)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    if at is not None:
        totp.time = at
    return f"{totp.token():0{device.digits}d}"


def log_in(browser, username="therapist", password=PASSWORD, **extra):
    return browser.post(reverse("login"), {"username": username, "password": password}, **extra)


def logged_in(browser) -> bool:
    return browser.get(reverse("client_list")).status_code == 200


class TestLockout:
    def test_five_failures_lock_the_username_from_that_address(self, therapist):
        browser = BrowserClient()
        for _ in range(4):
            assert log_in(browser, password=WRONG, **FROM).status_code == 200  # "try again"
        locked = log_in(browser, password=WRONG, **FROM)
        assert locked.status_code == 429
        assert "Too many failed logins" in locked.content.decode()
        # Now even the right password is refused, with the same clear page.
        again = log_in(BrowserClient(), **FROM)
        assert again.status_code == 429
        assert "Try again in 15 minutes" in again.content.decode()
        assert not logged_in(browser)
        failed = AccessEvent.objects.filter(action="login-failed", username="therapist")
        assert failed.count() == 6

    def test_the_lock_is_per_username_and_address(self, therapist, other_therapist):
        for _ in range(5):
            log_in(BrowserClient(), password=WRONG, **FROM)
        assert log_in(BrowserClient(), **FROM).status_code == 429
        other_address = BrowserClient()
        assert log_in(other_address, REMOTE_ADDR="192.0.2.1").status_code == 302
        assert log_in(BrowserClient(), "other-therapist", **FROM).status_code == 302

    def test_the_lock_lifts_after_the_cool_off(self, therapist):
        start = timezone.now()
        with time_machine.travel(start, tick=False):
            for _ in range(5):
                log_in(BrowserClient(), password=WRONG, **FROM)
            assert log_in(BrowserClient(), **FROM).status_code == 429
        with time_machine.travel(start + dt.timedelta(minutes=14), tick=False):
            assert log_in(BrowserClient(), **FROM).status_code == 429
        with time_machine.travel(start + dt.timedelta(minutes=16), tick=False):
            browser = BrowserClient()
            assert log_in(browser, **FROM).status_code == 302
            assert logged_in(browser)

    def test_a_success_resets_the_count(self, therapist):
        for _ in range(4):
            log_in(BrowserClient(), password=WRONG, **FROM)
        assert log_in(BrowserClient(), **FROM).status_code == 302
        for _ in range(4):
            log_in(BrowserClient(), password=WRONG, **FROM)
        assert log_in(BrowserClient(), **FROM).status_code == 302

    def test_the_admin_login_locks_too(self, db):
        UserFactory(username="root", clinic=None, is_staff=True, is_superuser=True)
        url = reverse("admin:login")
        for _ in range(5):
            BrowserClient().post(url, {"username": "root", "password": WRONG}, **FROM)
        response = BrowserClient().post(url, {"username": "root", "password": PASSWORD}, **FROM)
        assert response.status_code == 429

    def test_the_api_token_endpoint_locks_with_the_error_shape(self, therapist):
        api = APIClient()
        url = "/api/v1/auth/token/"
        for _ in range(5):
            response = api.post(
                url, {"username": "therapist", "password": WRONG}, format="json", **FROM
            )
            assert response.status_code in (400, 429)
        response = api.post(
            url, {"username": "therapist", "password": PASSWORD}, format="json", **FROM
        )
        assert response.status_code == 429
        error = response.json()["error"]
        assert (error["status"], error["code"]) == (429, "locked_out")
        assert "15 minutes" in error["message"]
        assert not Token.objects.filter(user=therapist).exists()


class TestTwoFactor:
    def test_setting_up_an_app_with_its_qr_code_and_a_real_code(self, client, therapist):
        client.force_login(therapist)
        page = client.get(reverse("two_factor_setup"))
        html = page.content.decode()
        assert "<svg" in html and "qr-code" in html
        device = TOTPDevice.objects.get(user=therapist, confirmed=False)
        key = page.context["manual_key"].replace(" ", "")
        assert base64.b32decode(key + "=" * (-len(key) % 8)) == device.bin_key
        wrong = client.post(reverse("two_factor_setup"), {"token": "000000"})
        assert wrong.status_code == 400
        with time_machine.travel(AFTER_THROTTLE):
            ok = client.post(reverse("two_factor_setup"), {"token": code_for(device)})
        assert ok.status_code == 302
        device.refresh_from_db()
        assert device.confirmed
        assert logged_in(client)

    def test_a_user_with_an_app_enters_a_code_after_the_password(self, therapist):
        device = TOTPDevice.objects.create(user=therapist, name="phone", confirmed=True)
        browser = BrowserClient()
        assert log_in(browser).status_code == 302
        target = reverse("client_list")
        response = browser.get(target)
        assert response.status_code == 302
        assert response.url.startswith(reverse("two_factor_verify"))
        assert browser.get("/api/v1/clients/").status_code == 403  # the API too (signed in)
        assert browser.post(response.url, {"token": "123456"}).status_code == 400
        assert AccessEvent.objects.filter(
            action="login-failed", object_type="second_factor"
        ).exists()
        with time_machine.travel(AFTER_THROTTLE):
            ok = browser.post(response.url, {"token": code_for(device)})
            assert (ok.status_code, ok.url) == (302, target)
            assert logged_in(browser)

    def test_a_code_is_accepted_once(self, therapist):
        device = TOTPDevice.objects.create(user=therapist, name="phone", confirmed=True)
        first, second = BrowserClient(), BrowserClient()
        log_in(first)
        log_in(second)
        code = code_for(device)
        assert first.post(reverse("two_factor_verify"), {"token": code}).status_code == 302
        assert second.post(reverse("two_factor_verify"), {"token": code}).status_code == 400

    def test_a_clinic_that_requires_it_sends_everyone_to_set_it_up(self, therapist, clinic_admin):
        therapist.clinic.require_two_factor = True
        therapist.clinic.save()
        browser = BrowserClient()
        log_in(browser)
        response = browser.get(reverse("caseload"))
        assert response.url.startswith(reverse("two_factor_setup"))
        # The password alone does not choose the app: the page says whom to ask for a link.
        response = browser.get(reverse("two_factor_setup"))
        assert response.status_code == 403
        assert "ask your clinic admin for your two-factor setup link" in response.content.decode()
        assert not TOTPDevice.objects.filter(user=therapist).exists()
        admin = browser_past_second_factor(clinic_admin)
        link = admin.get(reverse("clinic_user", args=[therapist.pk])).context["enrolment_link"]
        response = browser.get(link)
        assert response.url == reverse("two_factor_setup")
        response = browser.get(reverse("two_factor_setup"))
        assert "Your clinic requires two-factor sign-in" in response.content.decode()
        device = TOTPDevice.objects.get(user=therapist)
        browser.post(reverse("two_factor_setup"), {"token": code_for(device)})
        assert browser.get(reverse("caseload")).status_code == 200
        # The link worked once.
        assert browser.get(link).status_code == 400
        # It cannot be turned off while the clinic requires it.
        browser.post(reverse("two_factor_disable"))
        assert TOTPDevice.objects.filter(user=therapist, confirmed=True).exists()

    def test_an_admin_sets_up_their_own_app_before_requiring_it(self, clinic_admin):
        browser = BrowserClient()
        browser.force_login(clinic_admin)
        data = {"require_two_factor": "on", "retention_days": 3650, "kiosk_session_days": 2}
        response = browser.post(reverse("clinic_security"), data)
        assert response.status_code == 400
        assert "Set up your own authenticator app first" in response.content.decode()
        clinic_admin.clinic.refresh_from_db()
        assert not clinic_admin.clinic.require_two_factor
        browser = browser_past_second_factor(clinic_admin)
        assert browser.post(reverse("clinic_security"), data).status_code == 302
        clinic_admin.clinic.refresh_from_db()
        assert clinic_admin.clinic.require_two_factor

    def test_an_enrolment_link_is_for_its_user_only(self, therapist, other_therapist):
        therapist.clinic.require_two_factor = True
        therapist.clinic.save()
        link = services_security.two_factor_enrolment_link(user=therapist)
        browser = BrowserClient()
        log_in(browser, username="other-therapist")
        response = browser.get(link)
        assert response.status_code == 400
        assert "for another account" in response.content.decode()
        assert browser.get(reverse("two_factor_setup")).status_code == 403
        tampered = link.rstrip("/")[:-1] + ("a" if not link.rstrip("/").endswith("a") else "b")
        log_in(browser)
        assert browser.get(tampered + "/").status_code == 400

    def test_a_reset_ends_the_links_made_before_it(self, therapist, clinic_admin):
        therapist.clinic.require_two_factor = True
        therapist.clinic.save()
        first = services_security.two_factor_enrolment_link(user=therapist)
        device = TOTPDevice.objects.get(user=therapist)
        assert services_security.two_factor_confirm(device=device, token=code_for(device))
        services_security.two_factor_reset(user=therapist, changed_by=clinic_admin)
        browser = BrowserClient()
        log_in(browser)
        assert browser.get(first).status_code == 400

    def test_a_new_app_needs_a_code_from_the_current_one(self, therapist):
        TOTPDevice.objects.create(user=therapist, name="phone", confirmed=True)
        browser = BrowserClient()
        log_in(browser)
        response = browser.get(reverse("two_factor_setup"))
        assert response.url == reverse("two_factor_verify")
        assert TOTPDevice.objects.filter(user=therapist).count() == 1

    def test_site_staff_get_their_link_from_the_command_line(self, db):
        root = UserFactory(username="root", clinic=None, is_staff=True, is_superuser=True)
        out = io.StringIO()
        call_command("two_factor_link", "root", stdout=out)
        link = out.getvalue().strip()
        assert link.startswith("http") and "/account/two-factor/enrol/" in link
        browser = BrowserClient()
        browser.post(reverse("admin:login"), {"username": "root", "password": PASSWORD})
        response = browser.get(reverse("two_factor_setup"))
        assert "ask the person who runs this Alliance server" in response.content.decode()
        assert browser.get(link.split("8000", 1)[-1]).status_code == 302
        device = TOTPDevice.objects.get(user=root)
        browser.post(reverse("two_factor_setup"), {"token": code_for(device)})
        assert browser.get(reverse("admin:alliance_client_changelist")).status_code == 200

    def test_the_api_token_needs_the_code_too(self, therapist):
        device = TOTPDevice.objects.create(user=therapist, name="phone", confirmed=True)
        api, url = APIClient(), "/api/v1/auth/token/"
        credentials = {"username": "therapist", "password": PASSWORD}
        response = api.post(url, credentials, format="json")
        assert response.status_code == 400
        assert "otp_token" in response.json()["error"]["fields"]
        response = api.post(url, {**credentials, "otp_token": code_for(device)}, format="json")
        assert response.status_code == 200
        assert response.json()["token"] == Token.objects.get(user=therapist).key

    def test_a_clinic_admin_resets_a_lost_phone(self, client, therapist, clinic_admin):
        TOTPDevice.objects.create(user=therapist, name="phone", confirmed=True)
        phone = BrowserClient()
        phone.force_login(therapist)
        client.force_login(clinic_admin)
        response = client.post(reverse("clinic_user_two_factor_reset", args=[therapist.pk]))
        assert response.status_code == 302
        assert not TOTPDevice.objects.filter(user=therapist).exists()
        assert phone.get(reverse("caseload")).status_code == 302  # logged out


class TestApiTokensAndTwoFactor:
    """A token issued without a second factor stops working once two-factor sign-in applies
    to its user; asking again with a code issues a new token (issue 16, D4)."""

    TOKEN_URL = "/api/v1/auth/token/"
    CREDENTIALS = {"username": "therapist", "password": PASSWORD}

    def _api(self, key: str) -> APIClient:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return api

    def _old_token(self) -> str:
        response = APIClient().post(self.TOKEN_URL, self.CREDENTIALS, format="json")
        assert response.status_code == 200
        key = response.json()["token"]
        assert self._api(key).get("/api/v1/clients/").status_code == 200
        return key

    def _refused(self, key: str) -> None:
        response = self._api(key).get("/api/v1/clients/")
        assert response.status_code == 401
        error = response.json()["error"]
        assert (error["status"], error["code"]) == (401, "authentication_failed")
        assert "second factor" in error["message"]

    def test_setting_up_an_app_revokes_older_tokens(self, therapist):
        key = self._old_token()
        device = services_security.two_factor_device_pending(user=therapist)
        assert services_security.two_factor_confirm(device=device, token=code_for(device))
        assert not Token.objects.filter(key=key).exists()
        assert self._api(key).get("/api/v1/clients/").status_code == 401

    def test_an_older_token_is_refused_once_the_user_has_an_app(self, therapist):
        key = self._old_token()
        TOTPDevice.objects.create(user=therapist, name="phone", confirmed=True)  # not revoked
        self._refused(key)

    def test_requiring_it_in_the_clinic_revokes_tokens_issued_without_it(self, therapist):
        key = self._old_token()
        services_security.clinic_security_update(
            clinic=therapist.clinic, require_two_factor=True, retention_days=3650
        )
        assert not Token.objects.filter(key=key).exists()

    def test_an_older_token_is_refused_once_the_clinic_requires_it(self, therapist):
        key = self._old_token()
        therapist.clinic.require_two_factor = True
        therapist.clinic.save()  # not through the service: the authentication still refuses
        self._refused(key)

    def test_site_staff_tokens_need_the_second_factor(self, therapist):
        key = self._old_token()
        therapist.is_staff = True
        therapist.save()
        self._refused(key)

    def test_asking_with_a_code_issues_a_new_token_that_keeps_working(self, therapist):
        key = self._old_token()
        TOTPDevice.objects.create(user=therapist, name="phone", confirmed=True)
        device = TOTPDevice.objects.get(user=therapist)
        api = APIClient()
        response = api.post(
            self.TOKEN_URL, {**self.CREDENTIALS, "otp_token": code_for(device)}, format="json"
        )
        assert response.status_code == 200
        new = response.json()["token"]
        assert new != key
        assert not Token.objects.filter(key=key).exists()
        assert self._api(new).get("/api/v1/clients/").status_code == 200
        therapist.clinic.require_two_factor = True
        therapist.clinic.save()
        assert self._api(new).get("/api/v1/clients/").status_code == 200
        with time_machine.travel(dt.timedelta(seconds=31)):  # the next code; the same token
            again = api.post(
                self.TOKEN_URL, {**self.CREDENTIALS, "otp_token": code_for(device)}, format="json"
            )
        assert again.json()["token"] == new


class TestSessionLifetime:
    def test_thirty_idle_minutes_log_out(self, therapist):
        start = timezone.now()
        browser = BrowserClient()
        with time_machine.travel(start, tick=False):
            log_in(browser)
            assert logged_in(browser)
        with time_machine.travel(start + dt.timedelta(minutes=29), tick=False):
            assert logged_in(browser)
        with time_machine.travel(start + dt.timedelta(minutes=60), tick=False):
            response = browser.get(reverse("client_list"))
            assert response.status_code == 302
            assert response.url.startswith(reverse("login") + "?expired=idle")
            page = browser.get(response.url).content.decode()
            assert "logged out after a while without activity" in page
            assert not logged_in(browser)
            assert AccessEvent.objects.filter(action="logout", username="therapist").exists()

    def test_a_working_day_is_the_most_a_login_lasts(self, therapist):
        start = timezone.now()
        browser = BrowserClient()
        with time_machine.travel(start, tick=False):
            log_in(browser)
        for minutes in range(20, 12 * 60, 20):  # busy all day: never idle
            with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
                assert logged_in(browser), minutes
        with time_machine.travel(start + dt.timedelta(hours=12, minutes=5), tick=False):
            response = browser.get(reverse("client_list"))
            assert response.url.startswith(reverse("login") + "?expired=expired")

    def test_a_post_after_the_timeout_changes_nothing(self, therapist, client_of_therapist):
        start = timezone.now()
        browser = BrowserClient()
        with time_machine.travel(start, tick=False):
            log_in(browser)
        with time_machine.travel(start + dt.timedelta(hours=1), tick=False):
            response = browser.post(
                reverse("client_edit", args=[client_of_therapist.pk]),
                {"code": "CHANGED", "language": "en", "status": "active"},
            )
            assert response.status_code == 302
            assert response.url.startswith(reverse("login"))
        client_of_therapist.refresh_from_db()
        assert client_of_therapist.code == "R-0001"


class TestDeactivation:
    def test_deactivating_ends_sessions_and_revokes_api_tokens(
        self, client, therapist, clinic_admin
    ):
        browser = BrowserClient()
        browser.force_login(therapist)
        token = Token.objects.create(user=therapist)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        assert api.get("/api/v1/clients/").status_code == 200

        people_services.user_deactivate(user=therapist, changed_by=clinic_admin)

        assert not Token.objects.filter(user=therapist).exists()
        assert api.get("/api/v1/clients/").status_code == 401
        assert not any(
            s.get_decoded().get(SESSION_KEY) == str(therapist.pk) for s in Session.objects.all()
        )
        assert browser.get(reverse("caseload")).status_code == 302

    def test_a_password_reset_revokes_tokens_too(self, therapist, clinic_admin):
        Token.objects.create(user=therapist)
        people_services.user_password_reset(user=therapist, changed_by=clinic_admin)
        assert not Token.objects.filter(user=therapist).exists()
