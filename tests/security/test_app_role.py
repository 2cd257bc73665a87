"""The audit log cannot be emptied: the application's role, set up by docs/app-role.sql (the
very file the docs tell operators to run), can read and add events but neither change,
delete nor empty them, nor lift the triggers; and the owner's TRUNCATE is refused too.

PostgreSQL only. Everything, the role included, happens inside the test's transaction and
is rolled back; SET LOCAL ROLE makes the statements run as the application would."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from alliance.models import AccessEvent, Client
from measures.models import Rating
from tests.factories import ClientFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db

APP_ROLE_SQL = Path(settings.BASE_DIR) / "docs" / "app-role.sql"
ROLE = "alliance_app"
TABLE = "alliance_accessevent"


@pytest.fixture
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "roles, grants and triggers are PostgreSQL's (run with DATABASE_URL=postgres://...)"
        )


@pytest.fixture
def event(_postgresql_only):
    return AccessEvent.objects.create(action=AccessEvent.Action.LOGIN, username="therapist")


@pytest.fixture
def app_role(event):
    with connection.cursor() as cursor:
        cursor.execute(APP_ROLE_SQL.read_text())
    return ROLE


def run_as(role: str | None, sql: str, params=None):
    """One statement in a savepoint, as ``role`` (None: the owner running the tests)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if role:
            cursor.execute(f"SET LOCAL ROLE {role}")
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def test_the_app_role_reads_and_writes_rows_and_adds_to_the_audit_log(app_role, event):
    client = ClientFactory(code="R-0001")
    assert run_as(app_role, "SELECT current_user")[0][0] == ROLE
    run_as(app_role, "UPDATE alliance_client SET code = 'R-0002' WHERE id = %s", [client.pk])
    assert Client.objects.get(pk=client.pk).code == "R-0002"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {app_role}")
        AccessEvent.objects.create(action=AccessEvent.Action.READ, username="therapist")
        assert AccessEvent.objects.count() == 2


def test_the_app_works_as_the_app_role(app_role, instruments, client, client_of_therapist):
    """The grants are enough: a page read (with its audit event) and a rating (scores, flags,
    history) as the role the documented SQL makes."""
    session = TherapySessionFactory(client=client_of_therapist)
    client.force_login(client_of_therapist.primary_therapist)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {app_role}")
        rating_of(session, instruments["client"])
        rating_of(session, instruments["therapist"])
        page = client.get(reverse("client_detail", args=[client_of_therapist.pk]))
        assert page.status_code == 200
        assert AccessEvent.objects.filter(client_id=client_of_therapist.pk).exists()
    assert Rating.objects.filter(session=session).count() == 2


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        (f"TRUNCATE {TABLE}", f"permission denied for table {TABLE}"),
        (f"TRUNCATE {TABLE} CASCADE", f"permission denied for table {TABLE}"),
        (f"DELETE FROM {TABLE}", f"permission denied for table {TABLE}"),
        (f"UPDATE {TABLE} SET action = 'read'", f"permission denied for table {TABLE}"),
        (f"ALTER TABLE {TABLE} DISABLE TRIGGER ALL", f"must be owner of table {TABLE}"),
        (
            f"ALTER TABLE {TABLE} DISABLE TRIGGER alliance_accessevent_append_only",
            f"must be owner of table {TABLE}",
        ),
        (
            f"ALTER TABLE {TABLE} DISABLE TRIGGER alliance_accessevent_no_truncate",
            f"must be owner of table {TABLE}",
        ),
        (
            f"DROP TRIGGER alliance_accessevent_no_truncate ON {TABLE}",
            f"must be owner of (table|relation) {TABLE}",
        ),
        (f"DROP TABLE {TABLE}", f"must be owner of table {TABLE}"),
        (
            "SET session_replication_role = replica",
            'permission denied to set parameter "session_replication_role"',
        ),
    ],
)
def test_the_app_role_cannot_change_or_empty_the_audit_log(app_role, event, sql, refusal):
    with pytest.raises(DatabaseError, match=refusal):
        run_as(app_role, sql)
    assert AccessEvent.objects.filter(pk=event.pk, action=AccessEvent.Action.LOGIN).exists()


@pytest.mark.parametrize("sql", [f"TRUNCATE {TABLE}", f"TRUNCATE {TABLE} RESTART IDENTITY CASCADE"])
def test_the_owner_cannot_truncate_the_audit_log_either(event, sql):
    with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"):
        run_as(None, sql)
    assert AccessEvent.objects.filter(pk=event.pk).exists()


def test_docs_deployment_shows_the_statements_of_the_file():
    """docs/deployment.md shows the file's statements plainly: they must not drift apart."""
    deployment = (Path(settings.BASE_DIR) / "docs" / "deployment.md").read_text()
    section = deployment.split("### The application's database role", 1)[1]
    shown = section.split("```sql\n", 1)[1].split("```", 1)[0]
    statements = [
        " ".join(re.sub(r"--.*", "", statement).split())
        for statement in shown.split(";")
        if statement.strip()
    ]
    ran = " ".join(re.sub(r"--.*", "", APP_ROLE_SQL.read_text()).split())
    ran = ran.replace("ON DATABASE %I", "ON DATABASE alliance").replace(
        "', current_database())", ""
    )
    assert len(statements) == 9
    for statement in statements:
        assert statement in ran, statement
