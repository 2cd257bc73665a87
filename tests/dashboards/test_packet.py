"""The supervision packet: who may print it, what it holds, and its downloads."""

import io

import pandas as pd
import pytest
from django.urls import reverse

from alliance import dashboards
from alliance.models import Flag
from tests.dashboards.helpers import flag, queries_for, weekly_course
from tests.factories import (
    ClientFactory,
    ClinicAdminFactory,
    ClinicFactory,
    SupervisionFactory,
    SupervisorFactory,
    TherapistFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def caseload(therapist, instruments):
    """Three clients: an unrepaired rupture, a missing-form run and a steady course."""
    broken = ClientFactory(primary_therapist=therapist, code="R-0001")
    sessions = weekly_course(broken, instruments, [4, 4, 4, 2, 2, 2], [4, 4, 4, 4, 4, 4])
    flag(sessions[4], repair_status="unrepaired")
    flag(sessions[4], "client_reported_tension", scale="tension")
    quiet = ClientFactory(primary_therapist=therapist, code="R-0002")
    weekly_course(quiet, instruments, [4, None, None, None], [4, 4, 4, 4])
    steady = ClientFactory(primary_therapist=therapist, code="R-0003")
    weekly_course(steady, instruments, [4, 4, 4], [4, 4, 4])
    return {"broken": broken, "quiet": quiet, "steady": steady}


def test_the_packet_has_a_page_per_client_most_at_risk_first(client, supervisor, caseload):
    therapist = caseload["broken"].primary_therapist
    client.force_login(supervisor)
    response = client.get(reverse("therapist_packet", args=[therapist.pk]))
    assert response.status_code == 200
    pages = response.context["pages"]
    assert [page.row.client.code for page in pages] == ["R-0001", "R-0002", "R-0003"]
    html = response.content.decode()
    assert html.count('class="packet-client"') == 3  # print.css breaks the page before each
    assert "css/print.css" in html and 'media="print"' in html
    # Charts sized for paper: 680 px fits A4 and Letter inside 15 mm margins.
    first = pages[0].chart
    assert '"width":680' in first.json and '"height":400' in first.json
    assert "Unrepaired drop at session 4" in html
    assert "Client reported tension" in html  # the flags not yet resolved, in words
    # One item per episode: the drop and the tension report at session 4 are one event.
    [episode] = pages[0].episodes
    assert episode["session"] == 4 and episode["repair_status"] == "unrepaired"
    assert episode["label"] == "Reliable drop, Client reported tension"
    assert len(episode["flags"]) == 2
    assert html.count("<li><strong>Session 4 ·") == 1
    assert response.context["packet"].figures.summary.active_clients == 3


def test_only_clients_to_look_at(client, supervisor, caseload):
    therapist = caseload["broken"].primary_therapist
    client.force_login(supervisor)
    response = client.get(
        reverse("therapist_packet", args=[therapist.pk]), {"clients": "attention"}
    )
    assert [page.row.client.code for page in response.context["pages"]] == ["R-0001", "R-0002"]


def test_a_client_packet(client, therapist, caseload):
    client.force_login(therapist)
    response = client.get(reverse("client_packet", args=[caseload["quiet"].pk]))
    assert response.status_code == 200
    [page] = response.context["pages"]
    assert page.row.risk.tier == dashboards.RiskTier.MISSING_FORMS
    assert response.context["packet"].figures is None


def test_the_excel_download_holds_the_same_numbers(client, supervisor, caseload):
    therapist = caseload["broken"].primary_therapist
    client.force_login(supervisor)
    response = client.get(reverse("therapist_packet_xlsx", args=[therapist.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response["Content-Disposition"]
    sheets = pd.read_excel(io.BytesIO(response.content), sheet_name=None)
    assert list(sheets) == ["Therapist", "Clients", "Sessions", "Flags"]
    assert list(sheets["Clients"].columns) == dashboards.PACKET_CLIENT_COLUMNS
    assert list(sheets["Sessions"].columns) == dashboards.PACKET_SESSION_COLUMNS
    assert list(sheets["Flags"].columns) == dashboards.PACKET_FLAG_COLUMNS
    clients = sheets["Clients"]
    assert list(clients["client_code"]) == ["R-0001", "R-0002", "R-0003"]
    assert clients.loc[0, "reason"] == "Unrepaired drop at session 4"
    assert clients.loc[0, "latest_client_total"] == 2
    sessions = sheets["Sessions"]
    quiet = sessions[sessions["client_code"] == "R-0002"]
    assert quiet["client_total"].isna().tolist() == [False, True, True, True]
    assert sheets["Therapist"].loc[0, "active_clients"] == 3
    assert sheets["Therapist"].loc[0, "clients_unrepaired_rupture"] == 1


@pytest.mark.parametrize(("name", "columns"), [("clients", "CLIENT"), ("sessions", "SESSION")])
def test_the_csv_downloads(client, supervisor, caseload, name, columns):
    therapist = caseload["broken"].primary_therapist
    client.force_login(supervisor)
    url = reverse(f"therapist_packet_{name}_csv", args=[therapist.pk])
    response = client.get(url)
    assert response["Content-Type"].startswith("text/csv")
    frame = pd.read_csv(io.BytesIO(response.content))
    assert list(frame.columns) == getattr(dashboards, f"PACKET_{columns}_COLUMNS")
    client_url = reverse(f"client_packet_{name}_csv", args=[caseload["steady"].pk])
    frame = pd.read_csv(io.BytesIO(client.get(client_url).content))
    assert set(frame["client_code"]) == {"R-0003"}


def test_the_packet_takes_the_same_queries_for_3_and_9_clients(
    client, supervisor, caseload, instruments, django_assert_max_num_queries
):
    therapist = caseload["broken"].primary_therapist
    url = reverse("therapist_packet", args=[therapist.pk])
    client.force_login(supervisor)
    client.get(url)
    small = queries_for(client, url)
    small_xlsx = queries_for(client, reverse("therapist_packet_xlsx", args=[therapist.pk]))
    for i in range(6):
        extra = ClientFactory(primary_therapist=therapist, code=f"R-1{i:03d}")
        flag(weekly_course(extra, instruments, [4, 2], [4, 4])[2], repair_status="pending")
    assert queries_for(client, url) == small
    assert queries_for(client, reverse("therapist_packet_xlsx", args=[therapist.pk])) == small_xlsx
    with django_assert_max_num_queries(25):
        client.get(url)


# --- who may have it -------------------------------------------------------------------------


def test_who_may_print_a_therapists_packet(client, clinic, supervisor, caseload):
    therapist = caseload["broken"].primary_therapist
    colleague = TherapistFactory(clinic=clinic)
    other_supervisor = SupervisorFactory(clinic=clinic)
    SupervisionFactory(supervisor=other_supervisor, therapist=colleague)
    expectations = {
        supervisor: 200,  # supervises the therapist
        therapist: 200,  # their own
        colleague: 404,  # another therapist
        other_supervisor: 404,  # supervises someone else
        ClinicAdminFactory(clinic=clinic): 200,
        ClinicAdminFactory(clinic=ClinicFactory(name="Elsewhere")): 404,
    }
    for name in ("therapist_packet", "therapist_packet_xlsx", "therapist_packet_sessions_csv"):
        url = reverse(name, args=[therapist.pk])
        for user, status in expectations.items():
            client.force_login(user)
            assert client.get(url).status_code == status, (name, user)
    client.logout()
    assert client.get(reverse("therapist_packet", args=[therapist.pk])).status_code == 302


def test_who_may_print_a_clients_packet(client, clinic, supervisor, caseload):
    patient = caseload["broken"]
    expectations = {
        patient.primary_therapist: 200,
        supervisor: 200,
        TherapistFactory(clinic=clinic): 404,
        SupervisorFactory(clinic=clinic): 404,
        ClinicAdminFactory(clinic=ClinicFactory(name="Elsewhere")): 404,
    }
    for name in ("client_packet", "client_packet_xlsx", "client_packet_clients_csv"):
        for user, status in expectations.items():
            client.force_login(user)
            assert client.get(reverse(name, args=[patient.pk])).status_code == status


def test_bad_period_on_a_packet_is_ignored(client, supervisor, caseload):
    therapist = caseload["broken"].primary_therapist
    client.force_login(supervisor)
    for params in ({"from": "soon"}, {"from": "2026-05-01", "to": "2026-01-01"}):
        response = client.get(reverse("therapist_packet", args=[therapist.pk]), params)
        assert response.status_code == 200
        assert "ignored" in response.content.decode()
        download = reverse("therapist_packet_xlsx", args=[therapist.pk])
        assert client.get(download, params).status_code == 200


def test_a_packets_series_is_the_client_pages_series(therapist, caseload):
    """The packet reads sessions and flags as values (clients_series), the client page gives
    the model instances it has loaded (client_series): the same frames either way."""
    from sessions.selectors import sessions_of_client

    clients = list(caseload.values())
    packet = dashboards.clients_series(clients, tz=therapist.clinic.tzinfo)
    for client in clients:
        page = dashboards.client_series(
            client,
            sessions=sessions_of_client(client).sessions,
            flags=list(
                Flag.objects.active()
                .filter(client=client)
                .select_related("session", "episode")
                .order_by("pk")
            ),
        )
        for part in ("scores", "sessions", "flags"):
            mine, theirs = getattr(page, part), getattr(packet[client.pk], part)
            pd.testing.assert_frame_equal(
                mine.reset_index(drop=True), theirs.reset_index(drop=True), check_dtype=False
            )
        assert len(page.flags) == client.flags.active().count()
