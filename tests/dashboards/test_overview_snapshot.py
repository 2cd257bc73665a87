"""The clinic overview is shown from a snapshot at most SNAPSHOT_MAX_AGE old, with its time;
"Refresh now" and ``manage.py refresh_overview`` compute it afresh."""

import datetime as dt
import io

import pandas as pd
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone, translation

from alliance import dashboards
from alliance.dashboards.overview import SNAPSHOT_KEEP, SNAPSHOT_MAX_AGE, clinic_overview_compute
from alliance.models import ClinicOverviewSnapshot
from tests.dashboards.helpers import flag, weekly_course
from tests.factories import ClientFactory, ClinicAdminFactory, ClinicFactory

pytestmark = pytest.mark.django_db

URL = reverse("clinic_overview")


@pytest.fixture
def course(therapist, instruments):
    patient = ClientFactory(primary_therapist=therapist, code="a")
    sessions = weekly_course(
        patient,
        instruments,
        [4, None, 2],
        [4, 4, 3],
        start=timezone.now() - dt.timedelta(weeks=3),
    )
    flag(sessions[3], repair_status="unrepaired")
    return patient


def add_rated_client(therapist, instruments, total=5):
    patient = ClientFactory(primary_therapist=therapist)
    weekly_course(patient, instruments, [total], start=timezone.now() - dt.timedelta(days=2))


def test_the_snapshot_shows_what_was_computed(client, clinic_admin, course):
    client.force_login(clinic_admin)
    client.get(URL)  # computes and keeps the snapshot
    [snapshot] = ClinicOverviewSnapshot.objects.all()
    assert snapshot.clinic == clinic_admin.clinic
    response = client.get(URL)
    shown = response.context["overview"]
    assert shown.computed_at == snapshot.computed_at
    live = clinic_overview_compute(clinic_admin, period=shown.period)
    pd.testing.assert_series_equal(shown.latest_totals, live.latest_totals)
    assert shown.completion == live.completion
    pd.testing.assert_frame_equal(shown.flags_per_rule, live.flags_per_rule, check_dtype=False)
    pd.testing.assert_frame_equal(shown.monthly, live.monthly, check_dtype=False)
    html = response.content.decode()
    assert "Figures as of" in html
    assert "Refresh now" in html


def test_a_snapshot_is_shown_until_it_is_too_old(client, clinic_admin, therapist, instruments):
    add_rated_client(therapist, instruments)
    client.force_login(clinic_admin)
    assert client.get(URL).context["overview"].rated_clients == 1
    add_rated_client(therapist, instruments)
    # Minutes old, as the page says: the new client is not in it yet.
    assert client.get(URL).context["overview"].rated_clients == 1
    ClinicOverviewSnapshot.objects.update(
        computed_at=timezone.now() - SNAPSHOT_MAX_AGE - dt.timedelta(seconds=1)
    )
    overview = client.get(URL).context["overview"]
    assert overview.rated_clients == 2
    assert overview.computed_at > timezone.now() - dt.timedelta(minutes=1)


def test_refresh_now_recomputes_the_same_period(client, clinic_admin, therapist, instruments):
    add_rated_client(therapist, instruments)
    client.force_login(clinic_admin)
    period = {"from": "2026-01-01", "to": "2026-12-31"}
    url = f"{URL}?from={period['from']}&to={period['to']}"
    assert client.get(URL, period).context["overview"].rated_clients == 1
    add_rated_client(therapist, instruments)
    response = client.post(url)
    assert response.status_code == 302
    assert response.url == url
    assert client.get(URL, period).context["overview"].rated_clients == 2


def test_refresh_now_is_for_clinic_admins(client, therapist, supervisor):
    for user in (therapist, supervisor):
        client.force_login(user)
        assert client.post(URL).status_code == 404
    assert not ClinicOverviewSnapshot.objects.exists()


def test_another_clinics_admin_never_sees_this_clinics_snapshot(
    client, clinic_admin, course, therapist, instruments
):
    client.force_login(clinic_admin)
    assert client.get(URL).context["overview"].rated_clients == 1
    elsewhere = ClinicAdminFactory(clinic=ClinicFactory(name="Elsewhere"))
    client.force_login(elsewhere)
    overview = client.get(URL).context["overview"]
    assert overview.active_clients == 0
    assert overview.flags_per_rule.empty
    assert ClinicOverviewSnapshot.objects.filter(clinic=elsewhere.clinic).count() == 1


def test_rule_labels_are_translated_when_shown(client, clinic_admin, course):
    client.force_login(clinic_admin)
    client.get(URL)  # kept in English
    response = client.get(URL, HTTP_ACCEPT_LANGUAGE="es")
    with translation.override("en"):
        english = dashboards.clinic_overview_kept(clinic_admin, period=response.context["period"])
    spanish = response.context["overview"].flags_per_rule["label"].tolist()
    assert spanish != english.flags_per_rule["label"].tolist()


def test_the_scheduled_refresh_computes_each_clinics_default_period(
    clinic_admin, therapist, instruments
):
    add_rated_client(therapist, instruments)
    other = ClinicAdminFactory(clinic=ClinicFactory(name="Elsewhere"))
    ClinicAdminFactory(clinic=other.clinic)  # a second admin: still one snapshot
    ClinicFactory(name="No admin")  # nobody would see it
    old = ClinicOverviewSnapshot.objects.create(
        clinic=clinic_admin.clinic,
        start=dt.date(2020, 1, 1),
        end=dt.date(2020, 12, 31),
        computed_at=timezone.now() - SNAPSHOT_KEEP - dt.timedelta(minutes=1),
        figures={},
    )
    out = io.StringIO()
    call_command("refresh_overview", stdout=out)
    assert "2 clinic(s)" in out.getvalue()
    assert not ClinicOverviewSnapshot.objects.filter(pk=old.pk).exists()
    kept = ClinicOverviewSnapshot.objects.get(clinic=clinic_admin.clinic)
    period = dashboards.overview_default_period(clinic_admin.clinic)
    assert (kept.start, kept.end) == (period.start, period.end)
    assert kept.figures["latest_totals"] == [5.0]
    assert ClinicOverviewSnapshot.objects.filter(clinic=other.clinic).count() == 1


def test_a_refresh_never_overwrites_figures_computed_after_it_began(clinic_admin, course):
    period = dashboards.overview_default_period(clinic_admin.clinic)
    later = timezone.now() + dt.timedelta(minutes=1)  # a "Refresh now" that finished first
    ClinicOverviewSnapshot.objects.create(
        clinic=clinic_admin.clinic,
        start=period.start,
        end=period.end,
        computed_at=later,
        figures={"kept": "later"},
    )
    dashboards.clinic_overview_refresh(admin=clinic_admin, period=period)
    [kept] = ClinicOverviewSnapshot.objects.all()
    assert (kept.computed_at, kept.figures) == (later, {"kept": "later"})
