"""List endpoints take a fixed number of queries, whatever the number of rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alliance.models import Episode, EpisodeComment, Flag
from tests.api.conftest import api_client_for
from tests.factories import ClientFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db

URLS = [
    "/api/v1/clients/",
    "/api/v1/sessions/",
    "/api/v1/ratings/",
    "/api/v1/flags/",
    "/api/v1/episodes/",
    "/api/v1/instruments/",
    "/api/v1/caseload/",
    "/api/v1/exports/ratings.csv",
    "/api/v1/fhir/bundle/",
]
# The most any of them takes: authentication, count, page, and prefetches (the caseload's
# risk: episodes, the clients' recent held sessions, their last totals).
MAX_QUERIES = 7


def _grow(therapist, instruments, clients: int, start: int):
    for n in range(start, start + clients):
        client = ClientFactory(primary_therapist=therapist, code=f"Q-{n:03d}")
        for number in (1, 2, 3):
            session = TherapySessionFactory(client=client, number=number)
            rating_of(
                session, instruments["client"], questions={"comment": "ok"}, refresh_flags=False
            )
            rating_of(session, instruments["therapist"], refresh_flags=False)
        episode = Episode.objects.create(
            client=client, session=session, last_session=session, kind="rupture"
        )
        Flag.objects.create(
            client=client,
            session=session,
            episode=episode,
            rater="client",
            scale="total",
            rule=Flag.Rule.RELIABLE_DROP,
            magnitude=1,
            explanation="x",
        )
        EpisodeComment.objects.create(episode=episode, author=therapist, text="x")


def _count(api, url) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url, {"page_size": 500} if "exports" not in url else {})
        # A streamed export reads the database while it is sent: counted too.
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, body
    return len(queries), len(body)


@pytest.mark.parametrize("url", URLS)
def test_list_queries_do_not_grow_with_rows(
    therapist, supervisor, instruments, url, django_assert_max_num_queries
):
    api = api_client_for(therapist)
    _grow(therapist, instruments, 2, 0)
    with django_assert_max_num_queries(MAX_QUERIES):
        small, small_size = _count(api, url)
    _grow(therapist, instruments, 12, 2)
    with django_assert_max_num_queries(MAX_QUERIES):
        large, large_size = _count(api, url)
    assert large == small
    assert url == "/api/v1/instruments/" or large_size > small_size


@pytest.mark.parametrize(
    "url_of",
    [
        lambda client: f"/api/v1/clients/{client.pk}/series/",
        lambda client: f"/api/v1/clients/{client.pk}/fhir/",
        lambda client: f"/api/v1/exports/clients/{client.pk}/record.xlsx",
    ],
)
def test_per_client_reads_do_not_grow_with_sessions(
    therapist, instruments, url_of, django_assert_max_num_queries
):
    api = api_client_for(therapist)
    client = ClientFactory(primary_therapist=therapist, code="LONG")
    for number in (1, 2):
        session = TherapySessionFactory(client=client, number=number)
        rating_of(session, instruments["client"], refresh_flags=False)
        rating_of(session, instruments["therapist"], refresh_flags=False)
    small, _ = _count(api, url_of(client))
    for number in range(3, 25):
        session = TherapySessionFactory(client=client, number=number)
        rating_of(session, instruments["client"], refresh_flags=False)
    with django_assert_max_num_queries(small):
        _count(api, url_of(client))


def test_supervision_summary_queries_do_not_grow(
    therapist, supervisor, instruments, django_assert_max_num_queries
):
    api = api_client_for(supervisor)
    _grow(therapist, instruments, 2, 0)
    small, _ = _count(api, "/api/v1/supervision/")
    _grow(therapist, instruments, 10, 2)
    with django_assert_max_num_queries(small):
        _count(api, "/api/v1/supervision/")
