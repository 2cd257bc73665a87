import uuid

import pytest
from django.core.exceptions import ValidationError

from measures.models import ItemAnswer, Rating, ScaleScore
from measures.services import AlreadyRated, rating_record, sessions_client_form_refresh
from sessions.models import TherapySession
from tests.factories import TherapySessionFactory

pytestmark = pytest.mark.django_db

ANSWERS = {"bond_1": 5, "bond_2": 4, "goal_1": 3, "goal_2": 3, "task_1": 4, "task_2": None}


@pytest.fixture
def session(client_of_therapist):
    return TherapySessionFactory(client=client_of_therapist, number=1)


def test_stores_answers_and_scale_scores(session, instruments):
    rating, created = rating_record(
        session=session,
        instrument=instruments["client"],
        answers=ANSWERS,
        questions={"tension": "yes", "tension_addressed": "4", "comment": "  fine  "},
    )
    assert created
    assert rating.submitted_by is None
    assert dict(rating.answers.values_list("item", "value")) == {
        "bond_1": 5.0,
        "bond_2": 4.0,
        "goal_1": 3.0,
        "goal_2": 3.0,
        "task_1": 4.0,
    }
    scores = dict(rating.scores.values_list("scale", "score"))
    assert scores == {"bond": 4.5, "goal": 3.0, "task": 4.0, "total": pytest.approx(3.8)}
    assert (rating.tension, rating.tension_addressed, rating.comment) == (True, 4, "fine")


def test_the_same_submission_twice_stores_one_rating(session, instruments):
    submission = uuid.uuid4()
    first, created = rating_record(
        session=session, instrument=instruments["client"], answers=ANSWERS, submission_id=submission
    )
    again, created_again = rating_record(
        session=session, instrument=instruments["client"], answers=ANSWERS, submission_id=submission
    )
    assert created and not created_again
    assert again.pk == first.pk
    assert Rating.objects.count() == 1


def test_a_second_different_rating_of_the_session_is_refused(session, instruments):
    rating_record(session=session, instrument=instruments["client"], answers=ANSWERS)
    with pytest.raises(AlreadyRated):
        rating_record(session=session, instrument=instruments["client"], answers=ANSWERS)
    assert Rating.objects.count() == 1


def test_every_bad_answer_is_reported_and_nothing_is_stored(session, instruments):
    answers = {**ANSWERS, "bond_1": 9, "goal_1": "often", "mystery": 3}
    with pytest.raises(ValidationError) as caught:
        rating_record(
            session=session,
            instrument=instruments["client"],
            answers=answers,
            questions={"tension": "maybe"},
        )
    assert {"bond_1", "goal_1", "mystery", "tension"} <= set(caught.value.message_dict)
    assert not Rating.objects.exists()
    assert not ItemAnswer.objects.exists()
    assert not ScaleScore.objects.exists()


def test_a_therapist_rating_records_who_submitted_it(session, instruments):
    answers = dict.fromkeys(ANSWERS, 4)
    rating, _ = rating_record(
        session=session,
        instrument=instruments["therapist"],
        answers=answers,
        submitted_by=session.therapist,
    )
    assert rating.rater == "therapist"
    assert rating.submitted_by == session.therapist
    assert rating.scores.get(scale="total").score == 4.0


def test_a_therapist_rating_needs_its_therapist(session, instruments):
    with pytest.raises(ValidationError):
        rating_record(session=session, instrument=instruments["therapist"], answers={"bond_1": 4})


def test_a_submission_id_of_another_session_is_refused(session, instruments):
    submission = uuid.uuid4()
    rating_record(
        session=session, instrument=instruments["client"], answers=ANSWERS, submission_id=submission
    )
    other = TherapySessionFactory(client=session.client, number=2)
    with pytest.raises(AlreadyRated, match="another session"):
        rating_record(
            session=other,
            instrument=instruments["client"],
            answers=ANSWERS,
            submission_id=submission,
        )
    assert not other.ratings.exists()


def _client_form(session) -> tuple[bool, float | None]:
    session.refresh_from_db(fields=["client_form", "client_total"])
    return session.client_form, session.client_total


def test_a_client_rating_sets_the_sessions_client_form_and_total(session, instruments):
    assert _client_form(session) == (False, None)
    rating_record(
        session=session,
        instrument=instruments["therapist"],
        answers=dict.fromkeys(ANSWERS, 4),
        submitted_by=session.therapist,
    )
    assert _client_form(session) == (False, None)  # the therapist's rating is not the client's

    rating, _ = rating_record(session=session, instrument=instruments["client"], answers=ANSWERS)
    form, total = _client_form(session)
    assert form is True
    assert total == pytest.approx(rating.scores.get(scale="total").score)


def test_a_client_form_too_sparse_to_score_is_a_form_without_a_total(session, instruments):
    rating, _ = rating_record(
        session=session, instrument=instruments["client"], answers={"bond_1": 4}
    )
    assert rating.scores.get(scale="total").score is None
    assert _client_form(session) == (True, None)


def test_the_refresh_over_a_clinic_agrees_with_each_rating(session, instruments):
    """The benchmark's bulk load and the migration set every session at once: the same
    values the service set one rating at a time, and running it again changes nothing."""
    other = TherapySessionFactory(client=session.client, number=2)
    empty = TherapySessionFactory(client=session.client, number=3)
    rating_record(session=session, instrument=instruments["client"], answers=ANSWERS)
    rating_record(session=other, instrument=instruments["client"], answers={"goal_1": 2})
    sessions = TherapySession.objects.filter(client=session.client)
    stored = list(sessions.values_list("number", "client_form", "client_total").order_by("number"))
    assert [row[:2] for row in stored] == [(1, True), (2, True), (3, False)]

    sessions.update(client_form=False, client_total=None)
    assert sessions_client_form_refresh(sessions=sessions) == 3
    assert list(sessions.values_list("number", "client_form", "client_total")) == stored
    assert sessions_client_form_refresh(sessions=sessions.filter(pk=empty.pk)) == 1
    assert list(sessions.values_list("number", "client_form", "client_total")) == stored
