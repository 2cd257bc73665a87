"""The Django admin site (issue 16, D3): site staff reach it only past a second factor, every
page of client data there is recorded in the audit log, and clinical records are read only."""

import pytest
from django.test import Client as BrowserClient
from django.urls import NoReverseMatch, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from alliance.models import AccessEvent, Client
from alliance.security.audit import AUDITED
from sessions.models import TherapySession
from tests.factories import UserFactory
from tests.security.conftest import CODES, PASSWORD
from tests.security.test_login_protection import code_for

pytestmark = pytest.mark.django_db


def events_of(user, url: str):
    return AccessEvent.objects.filter(user=user, url_name=url).order_by("pk")


class TestSecondFactor:
    def test_staff_without_an_app_set_one_up_before_the_admin(self, db):
        UserFactory(username="root", clinic=None, is_staff=True, is_superuser=True)
        browser = BrowserClient()
        login = reverse("admin:login")
        assert browser.post(login, {"username": "root", "password": PASSWORD}).status_code == 302
        response = browser.get(reverse("admin:alliance_client_changelist"))
        assert response.status_code == 302
        assert response.url.startswith(reverse("two_factor_setup"))
        assert browser.get(reverse("admin:index")).status_code == 302

    def test_staff_with_an_app_enter_a_code_before_the_admin(self, db):
        root = UserFactory(username="root", clinic=None, is_staff=True, is_superuser=True)
        device = TOTPDevice.objects.create(user=root, name="phone", confirmed=True)
        browser = BrowserClient()
        browser.post(reverse("admin:login"), {"username": "root", "password": PASSWORD})
        target = reverse("admin:alliance_client_changelist")
        response = browser.get(target)
        assert response.url.startswith(reverse("two_factor_verify"))
        ok = browser.post(response.url, {"token": code_for(device)})
        assert (ok.status_code, ok.url) == (302, target)
        assert browser.get(target).status_code == 200


class TestAudit:
    def test_reading_client_data_in_the_admin_is_recorded(self, world, staff_browser, site_staff):
        own = world.own
        pages = [
            ("admin:alliance_client_changelist", [], "client"),
            ("admin:alliance_client_change", [own.client.pk], "client"),
            ("admin:alliance_client_history", [own.client.pk], "client"),
            ("admin:alliance_episode_change", [own.episode.pk], "episode"),
            ("admin:measures_rating_changelist", [], "rating"),
            ("admin:measures_rating_change", [own.client_rating.pk], "rating"),
            ("admin:therapy_sessions_therapysession_change", [own.held.pk], "session"),
            ("admin:therapy_sessions_formlink_change", [own.link.pk], "form_link"),
        ]
        for url_name, args, object_type in pages:
            response = staff_browser.get(reverse(url_name, args=args))
            assert response.status_code == 200, url_name
            [event] = events_of(site_staff, url_name)
            assert (event.action, event.object_type) == ("read", object_type)
            assert event.client_id == (own.client.pk if args else None)
            assert event.object_id == (args[0] if args else None)
        # The answers and the comment are on the rating's page: that read is what is recorded.
        page = staff_browser.get(reverse("admin:measures_rating_change", args=[own.rating.pk]))
        assert b'name="_save"' not in page.content

    def test_every_admin_page_of_a_clinical_model_is_audited(self):
        clinical = [
            "alliance_client",
            "alliance_episode",
            "measures_rating",
            "therapy_sessions_therapysession",
            "therapy_sessions_formlink",
        ]
        for model in clinical:
            for page in ("changelist", "add", "change", "delete", "history"):
                assert f"admin:{model}_{page}" in AUDITED


class TestReadOnly:
    def test_a_change_is_refused_and_recorded_as_denied(self, world, staff_browser, site_staff):
        client = world.own.client
        url = reverse("admin:alliance_client_change", args=[client.pk])
        response = staff_browser.post(url, {"code": "CHANGED", "status": "active"})
        assert response.status_code == 403
        client.refresh_from_db()
        assert client.code == CODES["own"]
        [event] = events_of(site_staff, "admin:alliance_client_change")
        assert (event.action, event.client_id, event.status_code) == ("denied", client.pk, 403)

    def test_nothing_clinical_is_added_or_deleted(self, world, staff_browser):
        own = world.own
        delete = reverse("admin:therapy_sessions_therapysession_delete", args=[own.unrated.pk])
        assert staff_browser.post(delete, {"post": "yes"}).status_code == 403
        assert TherapySession.objects.filter(pk=own.unrated.pk).exists()
        add = reverse("admin:alliance_client_add")
        assert staff_browser.post(add, {"code": "NEW-1"}).status_code == 403
        assert not Client.objects.filter(code="NEW-1").exists()
        rating = reverse("admin:measures_rating_delete", args=[own.rating.pk])
        assert staff_browser.post(rating, {"post": "yes"}).status_code == 403

    def test_a_past_version_is_shown_and_never_reverted(self, world, staff_browser):
        client = world.own.client
        first = client.history.earliest()
        client.code = "AQ-7199"
        client.save()
        url = reverse("admin:alliance_client_simple_history", args=[client.pk, first.history_id])
        assert staff_browser.get(url).status_code == 200
        assert staff_browser.post(url, {}).status_code == 403
        client.refresh_from_db()
        assert client.code == "AQ-7199"

    @pytest.mark.parametrize(
        "source",
        [
            ("therapy_sessions", "therapysession", "client"),
            ("measures", "itemanswer", "rating"),
            ("alliance", "episodecomment", "episode"),
            ("alliance", "flag", "episode"),
        ],
    )
    def test_no_autocomplete_lists_clinical_records(self, world, staff_browser, source):
        app_label, model_name, field_name = source
        query = {"app_label": app_label, "model_name": model_name, "field_name": field_name}
        response = staff_browser.get(reverse("admin:autocomplete"), {**query, "term": ""})
        assert response.status_code == 403
        assert CODES["own"].encode() not in response.content


class TestCredentials:
    def test_token_and_authenticator_keys_are_not_in_the_admin(self, world, staff_browser):
        token = Token.objects.create(user=world.users["therapist"]).key
        page = staff_browser.get(reverse("admin:index")).content.decode()
        assert "Token" not in page and "TOTP" not in page and token not in page
        for name in (
            "admin:authtoken_tokenproxy_changelist",
            "admin:otp_totp_totpdevice_changelist",
        ):
            with pytest.raises(NoReverseMatch):
                reverse(name)

    def test_rule_settings_are_read_only_in_the_admin(self, world, staff_browser):
        clinic = world.own.client.clinic
        url = reverse("admin:alliance_clinic_change", args=[clinic.pk])
        page = staff_browser.get(url).content.decode()
        assert 'name="rule_settings"' not in page
        data = {
            "name": clinic.name,
            "timezone": clinic.timezone,
            "rule_settings": '{"reliable_drop": {"repair_window": 2147483648}}',
        }
        staff_browser.post(url, data)
        clinic.refresh_from_db()
        assert clinic.rule_settings == {}
