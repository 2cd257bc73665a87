"""The alerts page, the badge, marking read, and a person's own settings: scoped to the
recipient and to the clients they may see now."""

import datetime as dt

import pytest
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from alliance.clients.services import client_transfer
from alliance.models import AccessEvent, Notice, User
from alliance.notify.selectors import notices_unread_count
from tests.factories import (
    ClientFactory,
    EpisodeFactory,
    NoticeFactory,
    SupervisionFactory,
    TherapistFactory,
    TherapySessionFactory,
)

pytestmark = pytest.mark.django_db


def browser(user) -> Browser:
    signed_in = Browser()
    signed_in.force_login(user)
    return signed_in


@pytest.fixture
def notice(client_of_therapist):
    return NoticeFactory(episode=EpisodeFactory(session__client=client_of_therapist))


def test_the_list_shows_the_therapists_own_unread_alerts_newest_first(therapist, notice):
    older = NoticeFactory(
        episode=EpisodeFactory(session__client=ClientFactory(primary_therapist=therapist)),
        created_at=timezone.now() - dt.timedelta(days=2),
        read_at=timezone.now(),
    )
    response = browser(therapist).get(reverse("notice_list"))
    assert response.status_code == 200
    assert list(response.context["notices"]) == [notice, older]
    html = response.content.decode()
    assert html.count("Unread</span>") == 1
    assert notice.client.code in html and older.client.code in html
    assert reverse("episode_detail", args=[notice.episode_id]) in html


def test_the_list_is_paginated(therapist, client_of_therapist):
    for _ in range(30):
        NoticeFactory(episode=EpisodeFactory(session__client=client_of_therapist))
    response = browser(therapist).get(reverse("notice_list"))
    assert len(response.context["notices"]) == 25
    assert response.context["page"].paginator.count == 30


def test_nobody_else_is_told_about_the_therapists_client(
    therapist, other_therapist, supervisor, notice
):
    team_of_another = SupervisionFactory(supervisor__clinic=therapist.clinic).supervisor
    for person in (other_therapist, supervisor, team_of_another):
        response = browser(person).get(reverse("notice_list"))
        assert notice.client.code not in response.content.decode()
        assert list(response.context["notices"]) == []
        assert browser(person).post(reverse("notice_read", args=[notice.pk])).status_code == 404
    notice.refresh_from_db()
    assert notice.read_at is None


def test_after_a_transfer_the_old_therapist_no_longer_sees_the_alert(
    therapist, other_therapist, clinic_admin
):
    # The sessions were held by a colleague: after the transfer the old primary therapist
    # may not see the client any more (Client.objects.visible_to), nor the alert.
    colleague = TherapistFactory(clinic=therapist.clinic)
    client = ClientFactory(primary_therapist=therapist)
    session = TherapySessionFactory(client=client, therapist=colleague)
    notice = NoticeFactory(episode=EpisodeFactory(session=session))
    old = browser(therapist)
    assert list(old.get(reverse("notice_list")).context["notices"]) == [notice]
    assert notices_unread_count(therapist) == 1

    client_transfer(client=client, to_therapist=other_therapist, transferred_by=clinic_admin)

    assert list(old.get(reverse("notice_list")).context["notices"]) == []
    assert notices_unread_count(therapist) == 0
    assert old.post(reverse("notice_read", args=[notice.pk])).status_code == 404


def test_an_alert_about_an_episode_that_no_longer_applies_is_not_shown(therapist, notice):
    notice.episode.retired_at = timezone.now()
    notice.episode.save(update_fields=["retired_at"])
    assert list(browser(therapist).get(reverse("notice_list")).context["notices"]) == []
    assert notices_unread_count(therapist) == 0


def test_mark_read_and_mark_all_read(therapist, notice, client_of_therapist):
    second = NoticeFactory(episode=EpisodeFactory(session__client=client_of_therapist))
    signed_in = browser(therapist)
    response = signed_in.post(
        reverse("notice_read", args=[notice.pk]), {"next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("notice_list")
    notice.refresh_from_db()
    second.refresh_from_db()
    assert notice.read_at is not None and second.read_at is None
    assert signed_in.get(reverse("notice_read", args=[notice.pk])).status_code == 405

    response = signed_in.post(reverse("notices_read_all"))
    assert response.status_code == 302
    assert Notice.objects.filter(read_at__isnull=True).count() == 0


def test_opening_the_episode_marks_its_alert_read(therapist, supervisor, notice):
    # The supervisor opening it reads nothing of the therapist's.
    assert browser(supervisor).get(notice.episode.get_absolute_url()).status_code == 200
    notice.refresh_from_db()
    assert notice.read_at is None
    assert browser(therapist).get(notice.episode.get_absolute_url()).status_code == 200
    notice.refresh_from_db()
    assert notice.read_at is not None


def test_the_badge_counts_unread_alerts_on_the_caseload_and_in_the_nav(
    therapist, notice, client_of_therapist
):
    NoticeFactory(
        episode=EpisodeFactory(session__client=client_of_therapist), read_at=timezone.now()
    )
    html = browser(therapist).get(reverse("caseload")).content.decode()
    assert '<span class="badge flag" title="Unread alerts">1</span>' in html
    assert "1 unread alert<" in html
    Notice.objects.update(read_at=timezone.now())
    html = browser(therapist).get(reverse("caseload")).content.decode()
    assert "Unread alerts" not in html and "unread alert" not in html


def test_the_badge_is_one_count_query(therapist, notice, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert notices_unread_count(therapist) == 1


def test_the_list_is_audited_as_a_read_of_clients(therapist, notice):
    browser(therapist).get(reverse("notice_list"))
    event = AccessEvent.objects.order_by("-pk").first()
    assert (event.url_name, event.action, event.object_type, event.user_id) == (
        "notice_list",
        AccessEvent.Action.READ,
        "client",
        therapist.pk,
    )


# --- my settings -------------------------------------------------------------------------


def test_my_settings_saves_the_choices_and_the_pages_follow_the_language(therapist):
    signed_in = browser(therapist)
    page = signed_in.get(reverse("user_settings"))
    assert page.status_code == 200
    assert page.context["form"].initial == {"alert_email": "daily", "language": "en"}
    response = signed_in.post(
        reverse("user_settings"), {"alert_email": "immediately", "language": "es"}
    )
    assert response.status_code == 302
    therapist.refresh_from_db()
    assert (therapist.alert_email, therapist.language) == ("immediately", "es")
    assert response.cookies["django_language"].value == "es"
    assert "Mis ajustes" in signed_in.get(reverse("user_settings")).content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"alert_email": "hourly", "language": "es"},
        {"alert_email": "none", "language": "xx"},
        {"language": "es"},
    ],
)
def test_my_settings_answers_bad_input_with_a_form_error_keeping_what_was_typed(therapist, data):
    response = browser(therapist).post(reverse("user_settings"), data)
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors
    assert form.data.get("language") == data.get("language")
    therapist.refresh_from_db()
    assert (therapist.alert_email, therapist.language) == (
        User.AlertEmail.DAILY,
        "en",
    )


def test_my_settings_is_linked_from_every_page(therapist):
    html = browser(therapist).get(reverse("caseload")).content.decode()
    assert reverse("user_settings") in html
