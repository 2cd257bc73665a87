"""The load test's plan (manage.py loadtest_prepare) and the pure parts of its client
(scripts/loadtest.py). The load test itself runs against `make serve`, not here."""

import importlib.util
import io
import json
import random
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from sessions import formlinks
from tests.factories import ClientFactory, ClinicFactory, TherapistFactory

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("loadtest", ROOT / "scripts" / "loadtest.py")
loadtest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(loadtest)


@pytest.mark.django_db
def test_prepare_writes_usable_links_and_the_clinicians(tmp_path, supervisor, instruments):
    therapist = supervisor.supervisions.get().therapist
    clients = [ClientFactory(primary_therapist=therapist, code=f"L-{n}") for n in range(3)]
    out = tmp_path / "plan.json"
    call_command(
        "loadtest_prepare",
        clinic=therapist.clinic.name,
        links=5,
        out=str(out),
        password="pw",
        stdout=io.StringIO(),
    )
    plan = json.loads(out.read_text())
    assert len(plan["form_tokens"]) == 5
    for token in plan["form_tokens"]:
        link = formlinks.formlink_resolve(token)
        assert link.session.client in clients
        assert link.session.status == "scheduled"
    assert plan["therapists"] == [
        {"username": therapist.username, "clients": [c.pk for c in clients]}
    ]
    assert plan["supervisors"] == [supervisor.username]
    assert plan["password"] == "pw"
    assert len(plan["items"]) == 6
    assert all(values == ["1", "2", "3", "4", "5"] for values in plan["items"].values())


@pytest.mark.django_db
def test_a_benchmark_clinics_clinicians_get_the_plans_password_and_no_other(
    tmp_path, clinic, supervisor, instruments
):
    therapist = supervisor.supervisions.get().therapist
    ClientFactory(primary_therapist=therapist)
    bench_therapist = TherapistFactory(clinic=ClinicFactory(name="Bench clinic M"))
    bench_therapist.set_unusable_password()
    bench_therapist.save()
    ClientFactory(primary_therapist=bench_therapist)
    for name in (clinic.name, "Bench clinic M"):
        call_command(
            "loadtest_prepare", clinic=name, links=1, out=str(tmp_path / "p.json"),
            password="pw", stdout=io.StringIO(),
        )  # fmt: skip
    bench_therapist.refresh_from_db()
    therapist.refresh_from_db()
    assert bench_therapist.check_password("pw")
    assert not therapist.check_password("pw")


@pytest.mark.django_db
def test_prepare_needs_the_clinic(tmp_path):
    with pytest.raises(CommandError, match="No clinic named"):
        call_command("loadtest_prepare", clinic="Nowhere", out=str(tmp_path / "p.json"))


PLAN = {
    "form_tokens": ["a", "b", "c"],
    "therapists": [{"username": "t1", "clients": [1, 2]}],
    "supervisors": ["s1"],
}


def test_plan_actions_add_up_and_use_each_token_once():
    actions = loadtest.plan_actions(PLAN, 200, random.Random(1))
    requests = sum(2 if a[0] == "client_form" else 1 for a in actions)
    assert 200 <= requests <= 201
    tokens = [a[1] for a in actions if a[0] == "client_form"]
    assert sorted(tokens) == ["a", "b", "c"]
    assert {a[0] for a in actions} == set(loadtest.MIX)


def test_percentiles_and_report():
    stats = loadtest.Stats()
    for ms in range(1, 101):
        stats.add("page", float(ms), None if ms < 100 else "500")
    report = stats.report(10.0)
    row = report["endpoints"]["page"]
    assert (row["requests"], row["errors"], row["rps"]) == (100, 1, 10.0)
    assert (row["p50_ms"], row["p95_ms"], row["p99_ms"]) == (50.5, 95.0, 99.0)
    assert report["errors"] == 1
    assert "page" in loadtest.table(report)


def test_only_loopback():
    with pytest.raises(SystemExit):
        loadtest.main(["--base-url", "http://example.org"])
