"""Integrity: database constraints behind the rules, and no silent overwrite of a session
edited in two places (optimistic concurrency with a revision, as ratings have)."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from alliance.models import Clinic
from measures.models import Instrument, Rating, RatingChange
from sessions.models import TherapySession
from tests.security.conftest import api_for, browser_for

pytestmark = pytest.mark.django_db


class TestSessionRevision:
    def test_a_stale_edit_is_refused_with_the_typed_values_kept(self, world):
        session = world.own.held
        first, second = browser_for(world, "therapist"), browser_for(world, "therapist")
        url = reverse("session_edit", args=[session.pk])
        assert 'name="revision" value="1"' in first.get(url).content.decode()
        saved = second.post(url, {"starts_at": "2024-01-02T10:00", "note": "moved", "revision": 1})
        assert saved.status_code == 302
        stale = first.post(url, {"starts_at": "2024-01-03T09:00", "note": "online", "revision": 1})
        assert stale.status_code == 200
        html = stale.content.decode()
        assert "changed after you opened it" in html
        assert "now starts 2024-01-02 10:00, with the note “moved”" in html
        assert ">\nonline</textarea>" in html  # what they typed is kept
        assert 'name="revision" value="2"' in html  # a second save is now a deliberate one
        session.refresh_from_db()
        assert (session.note, session.revision) == ("moved", 2)
        again = first.post(url, {"starts_at": "2024-01-03T09:00", "note": "online", "revision": 2})
        assert again.status_code == 302
        session.refresh_from_db()
        assert (session.note, session.revision) == ("online", 3)

    def test_the_api_answers_409_to_a_stale_revision(self, world):
        api = api_for(world, "therapist")
        url = f"/api/v1/sessions/{world.own.held.pk}/"
        assert api.get(url).json()["revision"] == 1
        assert api.patch(url, {"note": "a", "revision": 1}, format="json").status_code == 200
        stale = api.patch(url, {"note": "b", "revision": 1}, format="json")
        assert stale.status_code == 409
        assert stale.json()["error"]["code"] == "conflict"
        body = api.patch(url, {"note": "c"}, format="json").json()  # no revision: no check
        assert (body["note"], body["revision"]) == ("c", 3)


def violates(queryset, **values) -> bool:
    """Whether the database itself refuses the update (the ORM's checks bypassed)."""
    try:
        with transaction.atomic():
            queryset.update(**values)
    except IntegrityError:
        return True
    return False


class TestConstraints:
    def test_ratings(self, world):
        ratings = Rating.objects.filter(pk=world.own.client_rating.pk)
        assert violates(ratings, tension=False, tension_addressed=3)
        assert violates(ratings, revision=0)
        assert not violates(ratings, tension=True, tension_addressed=3)

    def test_rating_changes_move_forward(self, world):
        from measures.services import rating_update

        answers = {f"{scale}_{n}": 2 for scale in ("bond", "goal", "task") for n in (1, 2)}
        rating_update(
            rating=world.own.rating,
            user=world.users["therapist"],
            answers=answers,
            expected_revision=1,
        )
        changes = RatingChange.objects.filter(rating=world.own.rating)
        assert violates(changes, new_revision=1)

    def test_sessions_clinics_and_instruments(self, world):
        assert violates(TherapySession.objects.filter(pk=world.own.held.pk), revision=0)
        assert violates(TherapySession.objects.filter(pk=world.own.held.pk), number=0)
        clinic = Clinic.objects.filter(pk=world.own.client.clinic_id)
        assert violates(clinic, retention_days=0)
        assert violates(clinic, rating_edit_days=400)
        assert violates(Instrument.objects.filter(pk=world.instruments["client"].pk), version=0)

    def test_the_session_number_is_unique_per_client(self, world):
        with pytest.raises(IntegrityError), transaction.atomic():
            TherapySession.objects.create(
                client=world.own.client,
                therapist=world.users["therapist"],
                number=1,
                starts_at=timezone.now(),
            )
