"""The benchmark's parts at a tiny scale, in the test database (the command itself makes a
database of its own, which a test inside pytest-django's cannot)."""

import pytest

from alliance.devtools.bench import runner
from alliance.devtools.bench.scenarios import SCENARIOS
from alliance.devtools.bench.synthetic import Scale, build_clinic
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
