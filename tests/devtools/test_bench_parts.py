"""The benchmark's loading, references and engine figures, at a tiny scale in the test
database (tests/devtools/test_bench.py covers the clinic and the pages)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alliance.devtools.bench import references, runner
from alliance.devtools.bench.engine import engine_table, measure_engine
from alliance.devtools.bench.loading import IdBlock, Table, reset_sequences
from alliance.devtools.bench.scenarios import SCENARIOS
from alliance.devtools.bench.synthetic import Scale, build_clinic
from alliance.models import AccessEvent, Client, Clinic
from sessions.models import TherapySession
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db

TINY = Scale("T", clients=4, therapists=2, sessions=(4, 6), supervised=1)


def test_table_writes_rows_with_the_other_columns_defaults(therapist):
    client = ClientFactory(primary_therapist=therapist)
    ids = IdBlock(TherapySession)
    now = timezone.now()
    table = Table(
        TherapySession,
        [
            "id",
            "client_id",
            "therapist_id",
            "number",
            "starts_at",
            "status",
            "created_at",
            "updated_at",
        ],
    )
    rows = [
        (
            ids.take(),
            client.pk,
            therapist.pk,
            n,
            now - dt.timedelta(weeks=3 - n),
            "completed",
            now,
            now,
        )
        for n in (1, 2, 3)
    ]
    assert table.write(rows) == 3
    reset_sequences(TherapySession)
    stored = list(TherapySession.objects.filter(client=client).order_by("number"))
    assert [s.number for s in stored] == [1, 2, 3]
    assert {(s.note, s.revision) for s in stored} == {("", 1)}
    assert stored[0].starts_at == rows[0][4]
    # The sequence is past the written ids: the next ordinary insert does not collide.
    fourth = TherapySession.objects.create(
        client=client, therapist=therapist, number=4, starts_at=now
    )
    assert fourth.pk > rows[-1][0]


def test_table_refuses_what_it_cannot_fill():
    with pytest.raises(ValueError, match="no columns"):
        Table(TherapySession, ["id", "colour"])
    with pytest.raises(ValueError, match="give its time"):
        Table(TherapySession, ["id", "client_id", "therapist_id", "number", "starts_at"])
    with pytest.raises(ValueError, match="not a constant"):
        Table(Clinic, ["created_at", "updated_at", "name"])
    with pytest.raises(ValueError, match="needs a value"):
        Table(Client, ["created_at", "updated_at", "code"])


def test_a_replayed_request_is_rolled_back(client, therapist):
    client.force_login(therapist)
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/caseload/").status_code == 200
    statements = references.replayable(captured.captured_queries)
    assert any(s.startswith("INSERT") for s in statements)  # the audit event
    assert not any(s.upper().startswith(references.SAVEPOINT) for s in statements)
    events = AccessEvent.objects.count()
    assert references.replay_ms(statements, runs=2) > 0
    assert AccessEvent.objects.count() == events


def test_each_page_is_compared_with_the_trivial_page(settings):
    settings.ALLOWED_HOSTS = ["localhost"]
    bench = build_clinic(TINY)
    assert bench.supervisor.supervisions.count() == 1
    scenarios = {s.name: s for s in SCENARIOS}
    found = [
        runner.measure(bench, scenarios[name], scale="T", repeat=2)
        for name in ("trivial", "client_form_post", "therapist_caseload")
    ]
    runner.compare_with_trivial(found)
    trivial, post, caseload = found
    assert trivial.x_trivial == 1.0
    assert post.queries > 0 and post.kilobytes == 0  # a redirect to the thanks page
    for result in found:
        assert result.sql_ms is not None and result.sql_ms > 0
        assert result.x_sql == pytest.approx(result.median_ms / result.sql_ms, rel=0.05)
    assert caseload.x_trivial > 1
    assert "x SQL" in runner.table(found)


def test_engine_figures_over_the_whole_clinic():
    bench = build_clinic(TINY)
    result = measure_engine(bench, scale="T")
    assert result.clients == 4
    assert result.rows > 0 and result.flags >= 0
    assert result.detect_rows_per_second > 0 and result.refresh_rows_per_second > 0
    assert "refresh s" in engine_table([result])
