"""The read-replica router: dashboards read from the replica, everything else from the
primary, and a user's own write pins their reads to the primary for a while.

The "replica" alias mirrors the test database (TEST MIRROR), as settings.py configures it
when DATABASE_REPLICA_URL is set: queries on each connection are counted separately.
"""

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alliance.models import AccessEvent, Client, User
from alliance.security.db_routers import PIN_COOKIE, REPLICA, ReplicaRouter, replica_reads
from measures.models import Rating
from sessions.models import TherapySession
from tests.factories import ClientFactory, TherapySessionFactory, rating_of

# Added at import, before the test databases are set up (the same dict Django reads).
settings.DATABASES.setdefault(
    REPLICA, {**settings.DATABASES["default"], "TEST": {"MIRROR": "default"}}
)

ROUTER = "alliance.security.db_routers.ReplicaRouter"
MIDDLEWARE = "alliance.security.db_routers.ReplicaReadsMiddleware"


@pytest.fixture
def with_replica(settings):
    settings.DATABASE_ROUTERS = [ROUTER]
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]


def test_reads_go_to_the_primary_outside_replica_reads():
    router = ReplicaRouter()
    assert router.db_for_read(Client) == "default"
    assert router.db_for_write(Client) == "default"


def test_clinical_reads_go_to_the_replica_inside_replica_reads():
    router = ReplicaRouter()
    with replica_reads():
        assert router.db_for_read(Client) == REPLICA
        assert router.db_for_read(TherapySession) == REPLICA
        assert router.db_for_read(Rating) == REPLICA
        # Who is signed in, and the audit log, always from the primary; writes too.
        assert router.db_for_read(User) == "default"
        assert router.db_for_read(AccessEvent) == "default"
        assert router.db_for_write(Client) == "default"
    assert router.db_for_read(Client) == "default"


@pytest.mark.django_db
def test_a_transaction_reads_the_primary():
    router = ReplicaRouter()
    with replica_reads(), transaction.atomic():
        assert router.db_for_read(Client) == "default"


def test_replica_is_never_migrated():
    router = ReplicaRouter()
    assert router.allow_migrate(REPLICA, "alliance") is False
    assert router.allow_migrate("default", "alliance") is None


def _queries(client, url, **kwargs):
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections[REPLICA]) as replica,
    ):
        response = client.get(url, **kwargs)
    assert response.status_code == 200, response.content[:500]
    return primary.captured_queries, replica.captured_queries


@pytest.mark.django_db(transaction=True, databases=["default", REPLICA])
def test_dashboard_reads_from_the_replica_until_the_user_writes(with_replica, client, supervisor):
    therapist = supervisor.supervisions.get().therapist
    for n in range(3):
        TherapySessionFactory(client=ClientFactory(primary_therapist=therapist, code=f"C-{n}"))
    client.force_login(supervisor)

    primary, replica = _queries(client, reverse("client_list"))
    assert replica, "the client list reads from the replica"
    assert all(_reads(q) for q in replica)
    assert not any('FROM "alliance_client"' in q["sql"] for q in primary)
    # The login (session, user) is read from the primary, and the audit event written there.
    assert any('FROM "django_session"' in q["sql"] for q in primary)
    assert any('INSERT INTO "alliance_accessevent"' in q["sql"] for q in primary)

    # A page outside the dashboards reads from the primary.
    _primary, replica = _queries(client, reverse("password_change"))
    assert not replica

    # The user's own write pins them to the primary (read-your-writes).
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert response.cookies[PIN_COOKIE]["max-age"] == settings.ALLIANCE_REPLICA_PIN_SECONDS
    _primary, replica = _queries(client, reverse("client_list"))
    assert not replica

    # Once the pin expires, the replica again.
    client.cookies.pop(PIN_COOKIE)
    _primary, replica = _queries(client, reverse("client_list"))
    assert replica


def _reads(query) -> bool:
    return query["sql"].lstrip().upper().startswith("SELECT")


@pytest.mark.django_db(transaction=True, databases=["default", REPLICA])
def test_without_the_router_nothing_reads_from_the_replica(client, supervisor):
    client.force_login(supervisor)
    _primary, replica = _queries(client, reverse("client_list"))
    assert not replica


@pytest.mark.django_db(transaction=True, databases=["default", REPLICA])
def test_the_streamed_export_reads_from_the_replica(with_replica, client, supervisor, instruments):
    """The CSV export is read while the response streams, after the view has returned:
    it still reads the database the router chose inside the view."""
    therapist = supervisor.supervisions.get().therapist
    course = ClientFactory(primary_therapist=therapist, code="C-export")
    for n in (1, 2):
        rating_of(TherapySessionFactory(client=course, number=n), instruments["client"])
    client.force_login(supervisor)
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections[REPLICA]) as replica,
    ):
        response = client.get(reverse("api-export-ratings-csv"))
        body = b"".join(response.streaming_content).decode()
    assert response.status_code == 200
    assert body.count("C-export") > 2
    assert any('"measures_itemanswer"' in q["sql"] for q in replica.captured_queries)
    assert not any('"measures_itemanswer"' in q["sql"] for q in primary.captured_queries)
