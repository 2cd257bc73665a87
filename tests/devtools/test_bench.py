"""The benchmark's parts at a tiny scale, in the test database (the command itself makes a
database of its own, which a test inside pytest-django's cannot)."""

import json
from pathlib import Path

import pytest
from django.db import connection

from alliance.devtools.bench import database, runner
from alliance.devtools.bench.scenarios import SCENARIOS
from alliance.devtools.bench.synthetic import Scale, build_clinic, load_clinic
from alliance.models import Client, Flag
from measures.models import Rating, ScaleScore
from sessions.models import TherapySession

pytestmark = pytest.mark.django_db

TINY = Scale("T", clients=6, therapists=2, sessions=(4, 8))


def test_the_synthetic_clinic_is_built_as_scaled(settings):
    bench = build_clinic(TINY)
    assert bench.counts["clients"] == Client.objects.count() == 6
    assert len(bench.therapists) == 2
    assert set(bench.supervisor.supervisions.values_list("therapist", flat=True)) == {
        t.pk for t in bench.therapists
    }
    sessions = TherapySession.objects.filter(client__clinic=bench.clinic)
    # 4-8 held or cancelled sessions per client and the next one scheduled.
    assert 6 * 5 <= sessions.count() <= 6 * 9
    assert sessions.filter(status="scheduled").count() == 6
    ratings = Rating.objects.filter(session__client__clinic=bench.clinic)
    assert ratings.count() == bench.counts["ratings"]
    # Every rating scored by the real scoring core: bond, goal, task and total.
    assert ScaleScore.objects.filter(rating__in=ratings).count() == 4 * ratings.count()
    assert bench.counts["flags"] == Flag.objects.count()


def test_every_scenario_answers_and_is_measured(settings):
    settings.ALLOWED_HOSTS = ["localhost"]
    bench = build_clinic(TINY)
    results = [runner.measure(bench, scenario, scale="T", repeat=2) for scenario in SCENARIOS]
    assert [r.scenario for r in results] == [s.name for s in SCENARIOS]
    for result in results:
        assert result.queries > 0
        assert 0 < result.min_ms <= result.median_ms <= result.p95_ms
    text = runner.table(results)
    assert "Supervisor dashboard (10 therapists)" in text and "median ms" in text
    assert runner.machine()["database"].startswith(("sqlite", "postgresql"))


def test_a_kept_clinic_is_read_back_as_it_was_built(settings):
    settings.ALLOWED_HOSTS = ["localhost"]
    built = build_clinic(TINY)
    report = {"counts": built.counts, "seconds": built.seconds}
    loaded = load_clinic(TINY, report)
    assert loaded.clinic == built.clinic
    assert (loaded.supervisor, loaded.admin) == (built.supervisor, built.admin)
    assert loaded.therapists == built.therapists
    assert loaded.counts == built.counts
    assert loaded.busiest_client() == built.busiest_client()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite keeps its copy as a file")
def test_a_kept_copy_counts_only_when_its_file_and_report_agree(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "KEPT_DIR", tmp_path)
    kept = database.KeptClinic("T", str(tmp_path / "bench-T.sqlite3"))
    assert kept.report() is None  # nothing kept yet
    builder = database.builder_version()
    report = {"counts": {}, "copy": kept.copy, "builder": builder}
    kept.report_path.write_text(json.dumps(report))
    assert kept.report() is None  # a report without its copy
    Path(kept.copy).write_bytes(b"")
    assert kept.report() == report
    kept.report_path.write_text(json.dumps({**report, "copy": "elsewhere"}))
    assert kept.report() is None  # another copy's report
    kept.report_path.write_text(json.dumps({**report, "builder": "another builder"}))
    assert kept.report() is None  # built by other code: built again
