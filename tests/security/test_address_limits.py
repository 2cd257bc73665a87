"""The client's address and the limits counted per address: with no trusted proxy a forged
X-Forwarded-For changes nothing (lockout, form-link rate limit, audit log)."""

import pytest
from axes.models import AccessAttempt
from django.test import Client as BrowserClient
from django.urls import reverse

from alliance.models import AccessEvent
from tests.security.conftest import PASSWORD

pytestmark = pytest.mark.django_db

WRONG = "not the password at all"
ADDRESS = "198.51.100.23"


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
        settings.ALLIANCE_FORM_RATE_LIMIT = 3
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
