"""sessions_of_client: a client's course with every rating's answers and scores loaded as
plain values, in the same five queries for a short course and a long one."""

import pytest

from sessions.selectors import client_rating_of, sessions_of_client, therapist_rating_of
from tests.factories import ClientFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db


def _course(therapist, instruments, sessions: int):
    client = ClientFactory(primary_therapist=therapist)
    for number in range(1, sessions + 1):
        session = TherapySessionFactory(client=client, number=number, therapist=therapist)
        rating_of(session, instruments["therapist"], refresh_flags=False)
        if number % 2:
            # Three of six items: each subscale scored, the total not (it needs four).
            answers = {"bond_1": 4, "goal_1": 3, "task_1": 5}
            rating_of(session, instruments["client"], answers=answers, refresh_flags=False)
    return client


def test_answers_and_scores_are_loaded_as_values(therapist, instruments):
    client = _course(therapist, instruments, 2)
    course = sessions_of_client(client)
    first, second = course.sessions
    rated = course.values_of(client_rating_of(first))
    assert rated.answers == {"bond_1": 4, "goal_1": 3, "task_1": 5}
    assert rated.scores == {"bond": 4, "goal": 3, "task": 5, "total": None}
    assert client_rating_of(second) is None
    own = course.values_of(therapist_rating_of(second))
    assert set(own.answers) == {
        item["key"] for item in instruments["therapist"].definition["items"]
    }
    assert own.scores["total"] == instruments["therapist"].definition["response"]["max"]


def test_the_same_queries_for_a_short_and_a_long_course(
    therapist, instruments, django_assert_num_queries
):
    short = _course(therapist, instruments, 2)
    long = _course(therapist, instruments, 12)
    for client in (short, long):
        with django_assert_num_queries(5):
            course = sessions_of_client(client)
        with django_assert_num_queries(0):
            for session in course.sessions:
                for rating in session.rating_list:
                    assert rating.instrument.rater == rating.rater
                    values = course.values_of(rating)
                    assert values.answers and values.scores
