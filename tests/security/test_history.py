"""Change history of clinical records: who changed what, when, old and new values.

Clients, sessions and episodes' workflow keep django-simple-history rows; a rating's
corrections are its RatingChange rows. Clinic admins read them on the client's access
page and in the Django admin.
"""

import pytest
from django.urls import reverse

from alliance.flags import services as flag_services
from alliance.models import Client, Episode
from measures.services import rating_update
from sessions.models import TherapySession
from tests.security.conftest import browser_for

pytestmark = pytest.mark.django_db


def test_a_client_edit_keeps_who_and_the_old_and_new_values(world):
    client = world.own.client
    response = browser_for(world, "therapist").post(
        reverse("client_edit", args=[client.pk]),
        {"code": "AQ-7199", "language": "es", "status": "active"},
    )
    assert response.status_code == 302
    latest, created = Client.history.filter(id=client.pk).order_by("-history_date")[:2]
    assert (created.history_type, latest.history_type) == ("+", "~")
    assert latest.history_user == world.users["therapist"]
    diff = latest.diff_against(created)
    assert {(c.field, c.old, c.new) for c in diff.changes} >= {
        ("code", "AQ-7101", "AQ-7199"),
        ("language", "en", "es"),
    }


def test_a_session_edit_and_a_status_change_are_kept(world):
    session = world.own.held
    browser = browser_for(world, "therapist")
    browser.post(
        reverse("session_edit", args=[session.pk]),
        {"starts_at": "2024-01-02T10:00", "note": "online", "revision": "1"},
    )
    browser.post(reverse("session_status", args=[world.own.unrated.pk]), {"status": "no_show"})
    edit = TherapySession.history.filter(id=session.pk).latest("history_date")
    assert (edit.note, edit.revision, edit.history_user) == ("online", 2, world.users["therapist"])
    status = TherapySession.history.filter(id=world.own.unrated.pk).latest("history_date")
    assert status.status == "no_show"


def test_an_episodes_workflow_is_kept(world):
    episode = world.own.episode
    response = browser_for(world, "therapist").post(
        reverse("episode_acknowledge", args=[episode.pk]), {"action_note": "We talked it through."}
    )
    assert response.status_code == 302
    record = Episode.history.filter(id=episode.pk).latest("history_date")
    assert (record.status, record.action_note) == ("acknowledged", "We talked it through.")
    assert (record.acknowledged_by_id, record.history_user) == (
        world.users["therapist"].pk,
        world.users["therapist"],
    )


def test_the_clinic_admin_reads_every_change_on_the_clients_access_page(world):
    client = world.own.client
    therapist = world.users["therapist"]
    browser = browser_for(world, "therapist")
    browser.post(
        reverse("client_edit", args=[client.pk]),
        {"code": "AQ-7199", "language": "en", "status": "active"},
    )
    answers = {f"{scale}_{n}": 2 for scale in ("bond", "goal", "task") for n in (1, 2)}
    rating_update(rating=world.own.rating, user=therapist, answers=answers, expected_revision=1)
    episode = world.own.episode
    flag_services.episode_acknowledge(episode=episode, user=therapist, action_note="We talked.")
    page = browser_for(world, "clinic_admin").get(reverse("client_access", args=[client.pk]))
    html = page.content.decode()
    assert "AQ-7101 → AQ-7199" in html
    assert f"Episode {episode.pk} (Possible rupture)" in html
    assert "We talked." in html
    assert "Therapist rating of session 1" in html
    assert "bond_1: 5 → 2" in html or "bond_1: 5.0 → 2.0" in html
    # Reading the access page is itself recorded.
    assert page.status_code == 200


def test_the_django_admin_shows_a_records_history(world, staff_browser):
    browser = staff_browser
    url = reverse("admin:alliance_client_history", args=[world.own.client.pk])
    assert browser.get(url).status_code == 200
    url = reverse("admin:therapy_sessions_therapysession_history", args=[world.own.held.pk])
    assert browser.get(url).status_code == 200
