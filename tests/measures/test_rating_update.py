import datetime as dt

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from alliance.flags.services import FlagRefresh
from measures.models import RatingChange, ScaleScore
from measures.services import RatingNotEditable, StaleRating, rating_update
from sessions.services import session_therapist_rating_update
from tests.factories import TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db

ALL_FOURS = dict.fromkeys(["bond_1", "goal_1", "task_1", "bond_2", "goal_2", "task_2"], 4)


@pytest.fixture
def rating(instruments, client_of_therapist):
    session = TherapySessionFactory(client=client_of_therapist, number=1)
    return rating_of(session, instruments["therapist"], answers=dict.fromkeys(ALL_FOURS, 5))


def total(rating) -> float:
    return ScaleScore.objects.get(rating=rating, scale="total").score


def test_the_therapist_corrects_their_rating_and_it_is_rescored(rating, therapist):
    updated = rating_update(
        rating=rating, user=therapist, answers=ALL_FOURS | {"bond_1": 1}, expected_revision=1
    )
    assert updated.revision == 2
    assert total(rating) == pytest.approx((1 + 4 * 5) / 6)
    assert ScaleScore.objects.get(rating=rating, scale="bond").score == pytest.approx(2.5)
    assert {a.item: a.value for a in rating.answers.all()}["bond_1"] == 1


def test_the_change_is_recorded(rating, therapist):
    rating_update(rating=rating, user=therapist, answers=ALL_FOURS, expected_revision=1)
    change = RatingChange.objects.get(rating=rating)
    assert change.changed_by == therapist
    assert change.old_answers["bond_1"] == 5
    assert change.new_answers["bond_1"] == 4
    assert (change.old_revision, change.new_revision) == (1, 2)


def test_a_stale_revision_is_refused_and_nothing_changes(rating, therapist):
    rating_update(rating=rating, user=therapist, answers=ALL_FOURS, expected_revision=1)
    with pytest.raises(StaleRating, match="changed after you opened it"):
        rating_update(
            rating=rating, user=therapist, answers=dict.fromkeys(ALL_FOURS, 1), expected_revision=1
        )
    assert total(rating) == 4
    assert RatingChange.objects.filter(rating=rating).count() == 1


def test_another_therapist_may_not_edit(rating, other_therapist):
    with pytest.raises(RatingNotEditable, match="Only the therapist who submitted"):
        rating_update(rating=rating, user=other_therapist, answers=ALL_FOURS, expected_revision=1)
    assert total(rating) == 5


def test_edits_are_refused_after_the_clinics_window(rating, therapist):
    clinic = therapist.clinic
    clinic.rating_edit_days = 3
    clinic.save(update_fields=["rating_edit_days"])
    later = timezone.now() + dt.timedelta(days=3, hours=1)
    with time_machine.travel(later), pytest.raises(RatingNotEditable, match="for 3 days"):
        rating_update(rating=rating, user=therapist, answers=ALL_FOURS, expected_revision=1)
    with time_machine.travel(timezone.now() + dt.timedelta(days=2, hours=23)):
        rating_update(rating=rating, user=therapist, answers=ALL_FOURS, expected_revision=1)


def test_the_default_window_is_seven_days(rating, therapist):
    later = timezone.now() + dt.timedelta(days=7, minutes=1)
    with time_machine.travel(later), pytest.raises(RatingNotEditable):
        rating_update(rating=rating, user=therapist, answers=ALL_FOURS, expected_revision=1)


def test_invalid_answers_are_refused_by_item_and_nothing_changes(rating, therapist):
    with pytest.raises(ValidationError) as excinfo:
        rating_update(
            rating=rating,
            user=therapist,
            answers=ALL_FOURS | {"goal_1": 9, "nope": 1},
            expected_revision=1,
        )
    assert set(excinfo.value.message_dict) == {"goal_1", "nope"}
    assert total(rating) == 5
    rating.refresh_from_db()
    assert rating.revision == 1


def test_client_ratings_are_not_edited_here(instruments, client_of_therapist, therapist):
    session = TherapySessionFactory(client=client_of_therapist, number=1)
    client_rating = rating_of(session, instruments["client"])
    with pytest.raises(RatingNotEditable):
        rating_update(rating=client_rating, user=therapist, answers={}, expected_revision=1)


def test_an_edit_stores_only_and_its_caller_refreshes_the_flags(rating, therapist, monkeypatch):
    seen = []
    monkeypatch.setattr(
        "alliance.flags.services.flags_refresh_for_client",
        lambda *, client, **_: seen.append(client) or FlagRefresh(),
    )
    rating_update(rating=rating, user=therapist, answers=ALL_FOURS, expected_revision=1)
    assert seen == []  # measures imports nothing from alliance
    session_therapist_rating_update(
        rating=rating, user=therapist, answers=ALL_FOURS, expected_revision=2
    )
    assert seen == [rating.session.client]


def test_an_inactive_therapist_may_not_edit(rating, therapist):
    therapist.is_active = False
    therapist.save(update_fields=["is_active"])
    with pytest.raises(RatingNotEditable):
        rating_update(rating=rating, user=therapist, answers=ALL_FOURS, expected_revision=1)
