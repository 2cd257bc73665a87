"""The audit log: one event per read or change of client data, exports, denials and logins;
nothing clinical in it; append-only in the ORM and (PostgreSQL) in the database."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.db import DatabaseError, connection, transaction
from django.test import Client as BrowserClient
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from alliance.models import AccessEvent, Client
from tests.security.conftest import PASSWORD, api_for, browser_for
from tests.sessions.conftest import CLIENT_ANSWERS

pytestmark = pytest.mark.django_db

Action = AccessEvent.Action
BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (audit test)", "REMOTE_ADDR": "203.0.113.7"}


def last_event() -> AccessEvent:
    return AccessEvent.objects.order_by("-pk").first()


def events_since(pk: int):
    return list(AccessEvent.objects.filter(pk__gt=pk).order_by("pk"))


def high_water() -> int:
    return AccessEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


class TestReads:
    def test_a_client_page_read_is_recorded_with_who_what_and_where(self, world):
        browser = browser_for(world, "therapist")
        start = high_water()
        assert (
            browser.get(reverse("client_detail", args=[world.own.client.pk]), **BROWSER).status_code
            == 200
        )
        [event] = events_since(start)
        assert event.user == world.users["therapist"]
        assert event.username == "therapist"
        assert event.roles == "therapist"
        assert event.clinic_id == world.own.client.clinic_id
        assert (event.action, event.object_type, event.object_id) == (
            "read",
            "client",
            world.own.client.pk,
        )
        assert event.client_id == world.own.client.pk
        assert (event.url_name, event.method, event.status_code) == ("client_detail", "GET", 200)
        assert event.ip == "203.0.113.7"
        assert event.user_agent == "Mozilla/5.0 (audit test)"
        assert timezone.now() - event.at < dt.timedelta(minutes=1)
        assert event.at.utcoffset() == dt.timedelta(0)

    @pytest.mark.parametrize(
        ("url_name", "target", "object_type"),
        [
            ("session_detail", "held", "session"),
            ("rating_edit", "held", "rating"),
            ("episode_detail", "episode", "episode"),
            ("flag_detail", "flag", "flag"),
        ],
    )
    def test_the_client_of_a_session_rating_episode_or_flag_is_found(
        self, world, url_name, target, object_type
    ):
        browser = browser_for(world, "therapist")
        obj = getattr(world.own, target)
        start = high_water()
        # An old link to a flag redirects to its episode.
        assert browser.get(reverse(url_name, args=[obj.pk])).status_code in (200, 302)
        [event] = events_since(start)
        assert (event.action, event.object_type, event.client_id) == (
            "read",
            object_type,
            world.own.client.pk,
        )
        assert event.object_id == (
            obj.pk if object_type == target.replace("held", "session") else None
        )

    def test_a_list_is_recorded_without_a_client(self, world):
        browser = browser_for(world, "supervisor")
        start = high_water()
        browser.get(reverse("client_list"))
        [event] = events_since(start)
        assert (event.action, event.object_type, event.client_id, event.roles) == (
            "read",
            "client",
            None,
            "supervisor",
        )

    def test_api_reads_are_recorded_for_the_tokens_user(self, world):
        start = high_water()
        response = api_for(world, "clinic_admin").get(f"/api/v1/sessions/{world.other.held.pk}/")
        assert response.status_code == 200
        [event] = events_since(start)
        assert event.user == world.users["clinic_admin"]
        assert (event.action, event.object_type, event.object_id, event.client_id) == (
            "read",
            "session",
            world.other.held.pk,
            world.other.client.pk,
        )
        assert event.url_name == "api-session-detail"

    def test_pages_without_client_data_and_anonymous_visits_are_not_recorded(self, world):
        browser = browser_for(world, "clinic_admin")
        start = high_water()
        browser.get(reverse("clinic"))
        BrowserClient().get(reverse("client_detail", args=[world.own.client.pk]))  # to login
        assert events_since(start) == []


class TestExports:
    @pytest.mark.parametrize("url_name", ["client_export_csv", "client_export_record"])
    def test_page_exports_are_recorded_as_exports(self, world, url_name):
        browser = browser_for(world, "therapist")
        start = high_water()
        response = browser.get(reverse(url_name, args=[world.own.client.pk]))
        assert response.status_code == 200
        [event] = events_since(start)
        assert (event.action, event.client_id, event.url_name) == (
            "export",
            world.own.client.pk,
            url_name,
        )

    def test_api_exports_name_the_client_asked_for(self, world):
        start = high_water()
        api = api_for(world, "therapist")
        assert (
            api.get(f"/api/v1/exports/ratings.csv?client={world.own.client.pk}").status_code == 200
        )
        assert api.get("/api/v1/fhir/bundle/").status_code == 200
        first, second = events_since(start)
        assert (first.action, first.client_id) == ("export", world.own.client.pk)
        assert (second.action, second.client_id, second.url_name) == (
            "export",
            None,
            "api-fhir-bundle",
        )


class TestDenials:
    def test_an_object_outside_the_scope_is_a_denial_with_only_the_requested_id(self, world):
        browser = browser_for(world, "therapist")
        start = high_water()
        response = browser.get(reverse("session_detail", args=[world.other.held.pk]))
        assert response.status_code == 404
        [event] = events_since(start)
        assert (event.action, event.object_type, event.object_id, event.client_id) == (
            "denied",
            "session",
            world.other.held.pk,
            None,
        )
        assert event.status_code == 404

    def test_another_clinics_audit_log_confirms_nothing_about_our_objects(self, world):
        """D6: clinic 2's probes of clinic 1's ids answer 404 and its log names no client."""
        api = api_for(world, "other_clinic_admin")
        browser = browser_for(world, "other_clinic_admin")
        start = high_water()
        own = world.own
        for path in (
            f"/api/v1/episodes/{own.episode.pk}/",
            f"/api/v1/flags/{own.flag.pk}/",
            f"/api/v1/sessions/{own.held.pk}/",
            f"/api/v1/ratings/{own.rating.pk}/",
            f"/api/v1/clients/{own.client.pk}/",
        ):
            assert api.get(path).status_code == 404
        assert browser.get(reverse("client_detail", args=[own.client.pk])).status_code == 404
        # An error answered before the scope check (no renderer for XML) names nothing either.
        xml = browser.get(f"/api/v1/flags/{own.flag.pk}/", HTTP_ACCEPT="application/xml")
        assert xml.status_code == 406
        events = events_since(start)
        assert [event.action for event in events] == ["denied"] * 6 + ["read"]
        assert {event.client_id for event in events} == {None}
        csv = b"".join(browser.get(reverse("audit_log_csv")).streaming_content).decode()
        assert own.client.code not in csv
        rows = [row.split(",") for row in csv.strip().splitlines()[1:]]
        header = csv.splitlines()[0].split(",")
        client_column = header.index("client_id")
        assert str(own.client.pk) not in {row[client_column] for row in rows}

    def test_an_unknown_id_is_a_denial_with_the_requested_id_and_no_client(self, world):
        browser = browser_for(world, "therapist")
        start = high_water()
        assert browser.get("/clients/987654/").status_code == 404
        assert api_for(world, "therapist").get("/api/v1/flags/987655/").status_code == 404
        page, api = events_since(start)
        assert (page.action, page.object_id, page.client_id) == ("denied", 987654, None)
        assert (api.action, api.object_id, api.client_id) == ("denied", 987655, None)

    def test_a_write_by_someone_who_may_only_read_is_a_denial(self, world):
        browser = browser_for(world, "supervisor")
        start = high_water()
        response = browser.post(
            reverse("session_status", args=[world.own.unrated.pk]), {"status": "no_show"}
        )
        assert response.status_code == 404
        [event] = events_since(start)
        # The supervisor may see the client, so the refused write names it.
        assert (event.action, event.method, event.client_id) == (
            "denied",
            "POST",
            world.own.client.pk,
        )


class TestChanges:
    def test_a_created_client_is_recorded_with_its_new_id(self, world):
        browser = browser_for(world, "therapist")
        start = high_water()
        response = browser.post(reverse("client_create"), {"code": "NEW-1", "language": "en"})
        assert response.status_code == 302
        created = Client.objects.get(code="NEW-1")
        [event] = events_since(start)
        assert (event.action, event.object_type, event.object_id, event.client_id) == (
            "create",
            "client",
            created.pk,
            created.pk,
        )

    def test_an_api_create_is_recorded_with_its_new_id_and_client(self, world):
        start = high_water()
        response = api_for(world, "therapist").post(
            "/api/v1/sessions/",
            {
                "client": world.own.client.pk,
                "starts_at": timezone.now().isoformat(),
                "status": "scheduled",
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        [event] = events_since(start)
        assert (event.action, event.object_type, event.object_id, event.client_id) == (
            "create",
            "session",
            response.json()["id"],
            world.own.client.pk,
        )

    def test_an_edit_is_recorded_as_an_update(self, world):
        browser = browser_for(world, "therapist")
        start = high_water()
        browser.post(reverse("session_status", args=[world.own.unrated.pk]), {"status": "no_show"})
        [event] = events_since(start)
        assert (event.action, event.object_id, event.client_id) == (
            "update",
            world.own.unrated.pk,
            world.own.client.pk,
        )

    def test_api_episode_actions_are_recorded_on_the_episode_and_its_client(self, world):
        own = world.own
        url = f"/api/v1/episodes/{own.episode.pk}/"
        start = high_water()
        acknowledged = api_for(world, "therapist").post(
            url + "acknowledge/", {"action_note": "We talked."}, format="json"
        )
        assert acknowledged.status_code == 200, acknowledged.content
        # The supervisor sees the client but acknowledges nothing: a denial naming it.
        refused = api_for(world, "supervisor").post(
            url + "acknowledge/", {"action_note": "Me too."}, format="json"
        )
        assert refused.status_code == 404
        commented = api_for(world, "supervisor").post(url + "comments/", {"text": "Good."})
        assert commented.status_code == 201
        events = events_since(start)
        assert [
            (e.action, e.object_type, e.client_id, e.url_name, e.user.username) for e in events
        ] == [
            ("update", "episode", own.client.pk, "api-episode-acknowledge", "therapist"),
            ("denied", "episode", own.client.pk, "api-episode-acknowledge", "supervisor"),
            ("create", "episode", own.client.pk, "api-episode-comments", "supervisor"),
        ]
        assert events[0].object_id == events[1].object_id == own.episode.pk


class TestClientForm:
    def test_the_link_holder_is_recorded_by_link_never_by_token(self, world):
        start = high_water()
        browser = BrowserClient()
        url = reverse("client_form", args=[world.own.token])
        assert browser.get(url, **BROWSER).status_code == 200
        secret = "a private remark only the therapist should read"
        response = browser.post(url, {**CLIENT_ANSWERS, "comment": secret, "submission_id": ""})
        assert response.status_code == 302
        events = events_since(start)
        # The rating may open a rupture: its therapist's alert is audited too (by the system).
        told = [e for e in events if e.object_type == "episode_notice"]
        read, sent = [e for e in events if e.object_type != "episode_notice"]
        assert all((e.roles, e.client_id) == ("system", world.own.client.pk) for e in told)
        assert (read.action, read.user, read.roles, read.object_type) == (
            "read",
            None,
            "client-link",
            "form_link",
        )
        assert (read.object_id, read.client_id) == (world.own.link.pk, world.own.client.pk)
        assert read.clinic_id == world.own.client.clinic_id
        assert (sent.action, sent.status_code) == ("create", 302)
        assert (sent.object_id, sent.client_id, sent.clinic_id) == (
            world.own.link.pk,
            world.own.client.pk,
            world.own.client.clinic_id,
        )
        for event in (read, sent, *told):
            values = " ".join(str(getattr(event, f.attname)) for f in AccessEvent._meta.fields)
            assert world.own.token not in values
            assert secret not in values

    def test_a_used_link_opened_again_is_recorded_by_link(self, world):
        url = reverse("client_form", args=[world.own.token])
        browser = BrowserClient()
        assert browser.post(url, {**CLIENT_ANSWERS, "submission_id": ""}).status_code == 302
        start = high_water()
        assert browser.get(url, **BROWSER).status_code == 410
        [event] = events_since(start)
        assert (event.action, event.object_id, event.client_id, event.clinic_id) == (
            "read",
            world.own.link.pk,
            world.own.client.pk,
            world.own.client.clinic_id,
        )

    def test_an_unknown_token_is_a_denial_without_the_token(self, world):
        start = high_water()
        assert BrowserClient().get("/f/guessed-token-value/").status_code == 404
        [event] = events_since(start)
        assert (event.action, event.object_id, event.client_id) == ("denied", None, None)
        assert "guessed" not in event.url_name + event.object_type


class TestLogins:
    def test_a_login_and_a_logout_are_recorded(self, world):
        browser = BrowserClient()
        start = high_water()
        response = browser.post(
            reverse("login"), {"username": "therapist", "password": PASSWORD}, **BROWSER
        )
        assert response.status_code == 302
        browser.post(reverse("logout"))
        login, logout = events_since(start)
        assert (login.action, login.username, login.ip) == ("login", "therapist", "203.0.113.7")
        assert (logout.action, logout.username) == ("logout", "therapist")

    def test_a_failed_login_keeps_the_username_and_never_the_password(self, world):
        start = high_water()
        wrong = "Tr0ub4dor&3-not-the-password"
        BrowserClient().post(
            reverse("login"), {"username": "therapist", "password": wrong}, **BROWSER
        )
        BrowserClient().post(reverse("login"), {"username": "nobody-here", "password": wrong})
        known, unknown = events_since(start)
        assert (known.action, known.username, known.user, known.clinic_id) == (
            "login-failed",
            "therapist",
            None,
            world.users["therapist"].clinic_id,
        )
        assert (unknown.username, unknown.clinic_id) == ("nobody-here", None)
        stored = [
            str(value)
            for model in (AccessEvent, AccessAttempt)
            for row in model.objects.values()
            for value in row.values()
        ]
        assert not any(wrong in value for value in stored)

    def test_api_token_logins_are_recorded_both_ways(self, world):
        from rest_framework.test import APIClient

        start = high_water()
        APIClient().post(
            "/api/v1/auth/token/", {"username": "therapist", "password": "nope"}, format="json"
        )
        ok = APIClient().post(
            "/api/v1/auth/token/", {"username": "therapist", "password": PASSWORD}, format="json"
        )
        assert ok.status_code == 200
        failed, login = events_since(start)
        assert (failed.action, failed.username) == ("login-failed", "therapist")
        assert (login.action, login.object_type, login.user) == (
            "login",
            "api_token",
            world.users["therapist"],
        )


class TestUnrecorded:
    """D2: a change and its audit event commit together or not at all."""

    @staticmethod
    def rename_audit_table(away: bool) -> None:
        """Take the audit table away (as a failed or locked table would be), or bring it back."""
        table = AccessEvent._meta.db_table
        old, new = (table, f"{table}_away") if away else (f"{table}_away", table)
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {old} RENAME TO {new}")

    def test_a_page_write_is_rolled_back_with_a_503_and_a_retry_makes_one(self, world):
        browser = browser_for(world, "therapist")
        self.rename_audit_table(away=True)
        client = world.own.client
        url = reverse("session_new", args=[client.pk])
        data = {"starts_at": "2026-01-15T09:30", "status": "completed", "note": "online"}
        before = client.sessions.count()
        response = browser.post(url, data)
        assert response.status_code == 503
        assert "nothing was saved" in response.content.decode()
        assert client.sessions.count() == before
        self.rename_audit_table(away=False)  # back: the retry stores one session and its event
        page = browser.get(reverse("client_detail", args=[client.pk])).content.decode()
        assert "is completed" not in page  # the rolled-back view's "saved" message is gone
        start = high_water()
        assert browser.post(url, data).status_code == 302
        assert client.sessions.count() == before + 1
        [event] = events_since(start)
        assert (event.action, event.object_type) == ("create", "session")

    def test_an_api_write_is_rolled_back_with_a_503_in_the_api_shape(self, world):
        api = api_for(world, "therapist")
        self.rename_audit_table(away=True)
        client = world.own.client
        before = client.sessions.count()
        response = api.post(
            "/api/v1/sessions/",
            {"client": client.pk, "starts_at": "2030-01-02T15:00:00+01:00"},
            format="json",
        )
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "audit_unavailable"
        assert client.sessions.count() == before

    def test_a_read_that_cannot_be_recorded_shows_nothing(self, world):
        browser = browser_for(world, "therapist")
        self.rename_audit_table(away=True)
        response = browser.get(reverse("client_detail", args=[world.own.client.pk]))
        assert response.status_code == 503
        assert world.own.client.code not in response.content.decode()


class TestAppendOnly:
    @pytest.fixture
    def event(self, world):
        browser_for(world, "therapist").get(reverse("client_detail", args=[world.own.client.pk]))
        return last_event()

    def test_the_orm_refuses_to_change_or_delete_an_event(self, event):
        event.action = "read"
        with pytest.raises(AccessEvent.AppendOnly):
            event.save()
        with pytest.raises(AccessEvent.AppendOnly):
            event.delete()
        with pytest.raises(AccessEvent.AppendOnly):
            AccessEvent.objects.filter(pk=event.pk).update(action="login")
        with pytest.raises(AccessEvent.AppendOnly):
            AccessEvent.objects.all().delete()
        with pytest.raises(AccessEvent.AppendOnly), transaction.atomic():
            AccessEvent.objects.bulk_update([event], ["action"])
        assert AccessEvent.objects.filter(pk=event.pk, action="read").exists()

    def test_postgresql_refuses_update_and_delete_whoever_sends_them(self, event):
        if connection.vendor != "postgresql":
            pytest.skip(
                "the append-only trigger is PostgreSQL's (run with DATABASE_URL=postgres://...)"
            )
        for sql in (
            "UPDATE alliance_accessevent SET action = 'login' WHERE id = %s",
            "DELETE FROM alliance_accessevent WHERE id = %s",
        ):
            with (
                pytest.raises(DatabaseError, match="append-only"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(sql, [event.pk])
        assert AccessEvent.objects.filter(pk=event.pk, action="read").exists()

    def test_the_django_admin_shows_events_read_only(self, world, event, staff_browser):
        browser = staff_browser
        change = reverse("admin:alliance_accessevent_change", args=[event.pk])
        page = browser.get(change)
        assert page.status_code == 200
        assert b'name="_save"' not in page.content
        assert browser.post(change, {"action": "login"}).status_code == 403
        assert browser.get(reverse("admin:alliance_accessevent_add")).status_code == 403
        delete = reverse("admin:alliance_accessevent_delete", args=[event.pk])
        assert browser.post(delete, {"post": "yes"}).status_code == 403
        assert AccessEvent.objects.filter(pk=event.pk, action="read").exists()


class TestAuditPages:
    def test_the_log_holds_the_clinics_events_and_filters_them(self, world):
        browser_for(world, "therapist").get(reverse("client_detail", args=[world.own.client.pk]))
        browser_for(world, "other_therapist").get(
            reverse("client_detail", args=[world.other.client.pk])
        )
        browser_for(world, "other_clinic_admin").get(
            reverse("client_detail", args=[world.foreign.client.pk])
        )
        admin = browser_for(world, "clinic_admin")
        page = admin.get(reverse("audit_log"))
        usernames = {event.username for event in page.context["page"].object_list}
        assert {"therapist", "other-therapist"} <= usernames
        assert "other-clinic-admin" not in usernames
        mine = admin.get(
            reverse("audit_log"), {"user": world.users["therapist"].pk, "action": "read"}
        )
        assert {e.username for e in mine.context["page"].object_list} == {"therapist"}
        by_code = admin.get(reverse("audit_log"), {"client": world.other.client.code})
        assert {e.client_id for e in by_code.context["page"].object_list} == {world.other.client.pk}
        tomorrow = timezone.localdate() + dt.timedelta(days=1)
        later = admin.get(reverse("audit_log"), {"date_from": tomorrow.isoformat()})
        assert list(later.context["page"].object_list) == []
        junk = admin.get(reverse("audit_log"), {"date_from": "not a date", "user": "x"})
        assert junk.status_code == 200

    def test_the_csv_export_is_scoped_and_itself_recorded(self, world):
        browser_for(world, "therapist").get(reverse("client_detail", args=[world.own.client.pk]))
        browser_for(world, "other_clinic_admin").get(reverse("client_list"))
        response = browser_for(world, "clinic_admin").get(reverse("audit_log_csv"))
        text = b"".join(response.streaming_content).decode()
        header, *rows = text.strip().splitlines()
        assert header.startswith("at_utc,username,roles,action")
        assert any(row.split(",")[1] == "therapist" for row in rows)
        assert not any("other-clinic-admin" in row for row in rows)
        event = last_event()
        assert (event.action, event.object_type, event.username) == (
            "export",
            "audit_log",
            "clinic-admin",
        )

    def test_the_client_page_links_its_access_history_for_clinic_admins(self, world):
        url = reverse("client_access", args=[world.own.client.pk])
        assert (
            url
            in browser_for(world, "clinic_admin")
            .get(world.own.client.get_absolute_url())
            .content.decode()
        )
        assert (
            url
            not in browser_for(world, "therapist")
            .get(world.own.client.get_absolute_url())
            .content.decode()
        )


class TestOverhead:
    """The middleware's cost: the insert, plus one query to find the client of a session,
    rating or flag (manage.py bench_audit prints the time)."""

    @pytest.mark.parametrize(
        ("url_name", "target", "extra"),
        [("client_detail", "client", 1), ("session_detail", "held", 2)],
    )
    def test_one_or_two_queries_per_request(self, world, monkeypatch, url_name, target, extra):
        browser = browser_for(world, "therapist")
        url = reverse(url_name, args=[getattr(world.own, target).pk])
        browser.get(url)  # warm: the session's last-seen time is written now, not below

        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                assert browser.get(url).status_code == 200
            return len(captured)

        audited = queries()
        monkeypatch.setattr(
            "alliance.security.audit.record_request", lambda request, response: None
        )
        assert audited - queries() == extra


def test_audit_record_works_without_a_request():
    """Exports made outside a request (a command) are recorded too."""
    from alliance.security.audit import audit_record

    event = audit_record(action=Action.EXPORT, username="manage.py", object_type="rating")
    assert (event.ip, event.method, event.user) == (None, "", None)
