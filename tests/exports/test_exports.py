"""Ratings exports (long format, CSV and Excel) and a client's record: columns, scope,
formula safety and a fixed number of queries."""

import datetime as dt
import io
import json

import openpyxl
import pandas as pd
import pytest
from django.urls import reverse
from django.utils import timezone

from alliance import exports
from alliance.exports import RATING_COLUMNS, ExportScope
from alliance.models import Flag
from measures.models import Rating
from tests.api.conftest import api_client_for
from tests.factories import ClientFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db


def _course(client, instruments, sessions=2, *, comment=""):
    now = timezone.now()
    for number in range(1, sessions + 1):
        session = TherapySessionFactory(
            client=client,
            number=number,
            starts_at=now - dt.timedelta(days=7 * (sessions - number) + 1),
        )
        questions = {"comment": comment} if comment else None
        rating_of(session, instruments["client"], questions=questions, refresh_flags=False)
        rating_of(session, instruments["therapist"], refresh_flags=False)


@pytest.fixture
def clients(therapist, other_therapist, supervisor, instruments):
    own = ClientFactory(primary_therapist=therapist, code="OWN-1")
    other = ClientFactory(primary_therapist=other_therapist, code="OTHER-1")
    _course(own, instruments, comment='=HYPERLINK("http://evil")')
    _course(other, instruments)
    return {"own": own, "other": other}


def _csv(user, **params):
    response = api_client_for(user).get("/api/v1/exports/ratings.csv", params)
    assert response.status_code == 200, response.content
    return pd.read_csv(io.BytesIO(response.content))


def test_csv_opens_in_pandas_with_the_documented_columns(clients, therapist):
    frame = _csv(therapist)
    assert list(frame.columns) == RATING_COLUMNS
    # 2 sessions x 2 raters x 4 scales, own client only.
    assert len(frame) == 16
    assert set(frame["client_code"]) == {"OWN-1"}
    assert set(frame["scale"]) == {"bond", "goal", "task", "total"}
    assert set(frame["rater"]) == {"client", "therapist"}
    row = frame[(frame.session_number == 1) & (frame.rater == "client") & (frame.scale == "total")]
    assert row["score"].iloc[0] == 5.0
    answers = json.loads(row["answers"].iloc[0])
    assert answers == {"bond_1": 5, "bond_2": 5, "goal_1": 5, "goal_2": 5, "task_1": 5, "task_2": 5}
    assert row["instrument_key"].iloc[0] == "alliance-client"
    assert row["clinic"].iloc[0] == "Riverside Counselling"


def test_dates_are_in_the_clinic_timezone(clients, therapist):
    frame = _csv(therapist)
    session = clients["own"].sessions.get(number=1)
    local = timezone.localtime(session.starts_at, clients["own"].clinic.tzinfo)
    first = frame[frame.session_number == 1].iloc[0]
    assert first["session_date"] == local.date().isoformat()
    assert first["submitted_at"].endswith(local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:])


@pytest.mark.parametrize(
    ("who", "params", "codes"),
    [
        ("therapist", {}, {"OWN-1"}),
        ("other_therapist", {}, {"OTHER-1"}),
        ("supervisor", {}, {"OWN-1"}),
        ("clinic_admin", {}, {"OWN-1", "OTHER-1"}),
        ("clinic_admin", {"therapist": "other_therapist"}, {"OTHER-1"}),
        ("clinic_admin", {"client": "own"}, {"OWN-1"}),
        ("supervisor", {"therapist": "therapist"}, {"OWN-1"}),
    ],
)
def test_scope(clients, request, who, params, codes):
    from tests.factories import ClinicAdminFactory

    users = {
        "therapist": request.getfixturevalue("therapist"),
        "other_therapist": request.getfixturevalue("other_therapist"),
        "supervisor": request.getfixturevalue("supervisor"),
        "clinic_admin": ClinicAdminFactory(clinic=clients["own"].clinic, username="admin"),
    }
    resolved = {}
    if "therapist" in params:
        resolved["therapist"] = users[params["therapist"]].pk
    if "client" in params:
        resolved["client"] = clients[params["client"]].pk
    assert set(_csv(users[who], **resolved)["client_code"]) == codes


def test_out_of_scope_client_or_therapist_is_404(clients, therapist, other_therapist):
    api = api_client_for(therapist)
    assert (
        api.get("/api/v1/exports/ratings.csv", {"client": clients["other"].pk}).status_code == 404
    )
    assert (
        api.get("/api/v1/exports/ratings.csv", {"therapist": other_therapist.pk}).status_code == 404
    )
    assert api.get("/api/v1/exports/ratings.csv", {"client": "x"}).status_code == 400


def test_xlsx_opens_in_pandas_with_the_same_rows(clients, therapist):
    response = api_client_for(therapist).get("/api/v1/exports/ratings.xlsx")
    assert response["Content-Type"] == exports.XLSX_TYPE
    assert response["Content-Disposition"].startswith(
        'attachment; filename="alliance-ratings-clinic-'
    )
    frame = pd.read_excel(io.BytesIO(response.content), sheet_name="ratings")
    assert list(frame.columns) == RATING_COLUMNS
    assert len(frame) == 16


def test_an_empty_export_still_has_its_columns(therapist):
    frame = exports.ratings_frame(Rating.objects.none())
    assert list(frame.columns) == RATING_COLUMNS
    assert list(pd.read_csv(io.BytesIO(exports.to_csv(frame))).columns) == RATING_COLUMNS


def test_constant_queries_at_two_sizes(
    clients, instruments, therapist, django_assert_max_num_queries
):
    scope = ExportScope()
    with django_assert_max_num_queries(3):
        small = exports.ratings_frame(exports.ratings_in_scope(therapist, scope))
    for n in range(5):
        _course(ClientFactory(primary_therapist=therapist, code=f"MORE-{n}"), instruments, 4)
    with django_assert_max_num_queries(3):
        large = exports.ratings_frame(exports.ratings_in_scope(therapist, scope))
    assert len(large) == len(small) + 5 * 4 * 2 * 4


def test_client_record_has_sessions_ratings_and_flags_in_words(clients, therapist):
    own = clients["own"]
    Flag.objects.create(
        client=own,
        session=own.sessions.get(number=2),
        rater="client",
        scale="total",
        rule=Flag.Rule.RELIABLE_DROP,
        magnitude=1.2,
        explanation="Client-rated total fell from 4.5 to 3.3.",
    )
    response = api_client_for(therapist).get(f"/api/v1/exports/clients/{own.pk}/record.xlsx")
    assert response.status_code == 200
    sheets = pd.read_excel(io.BytesIO(response.content), sheet_name=None)
    assert list(sheets) == ["About", "Sessions", "Ratings", "Flags"]
    assert list(sheets["Sessions"].columns) == [
        "Session number",
        "Date and time",
        "Status",
        "Therapist",
        "Note",
    ]
    ratings = sheets["Ratings"]
    assert len(ratings) == 4
    assert {"Filled in by", "Score: total", "Comment", "Tension reported"} <= set(ratings.columns)
    assert any(column.startswith("bond_1: ") for column in ratings.columns)
    assert set(ratings["Filled in by"]) == {"Client", "Therapist"}
    flags = sheets["Flags"]
    assert flags["What was noticed"].tolist() == ["Client-rated total fell from 4.5 to 3.3."]
    assert flags["Signal"].tolist() == ["Reliable drop"]


def test_spreadsheet_formulas_in_free_text_are_not_run(clients, therapist):
    own = clients["own"]
    workbook = openpyxl.load_workbook(
        io.BytesIO(exports.client_record_export(own)[0]), read_only=True
    )
    values = [cell for row in workbook["Ratings"].iter_rows(values_only=True) for cell in row]
    comments = [v for v in values if isinstance(v, str) and "HYPERLINK" in v]
    assert comments and all(v.startswith("'=") for v in comments)


def test_page_links_download_the_clients_exports(client, clients, therapist, supervisor):
    own = clients["own"]
    client.force_login(therapist)
    csv = client.get(reverse("client_export_csv", args=[own.pk]))
    assert csv.status_code == 200
    assert set(pd.read_csv(io.BytesIO(csv.content))["client_code"]) == {"OWN-1"}
    assert client.get(reverse("client_export_xlsx", args=[own.pk])).status_code == 200
    assert client.get(reverse("client_export_record", args=[own.pk])).status_code == 200
    assert client.get(reverse("client_export_csv", args=[clients["other"].pk])).status_code == 404
    client.force_login(supervisor)
    assert client.get(reverse("client_export_csv", args=[own.pk])).status_code == 200
    # The record (right of access) is for the primary therapist and clinic admins.
    assert client.get(reverse("client_export_record", args=[own.pk])).status_code == 404
    client.logout()
    assert client.get(reverse("client_export_csv", args=[own.pk])).status_code == 302


def test_a_client_without_sessions_gets_sheets_with_headings(client_of_therapist):
    content, _, name = exports.client_record_export(client_of_therapist)
    assert name.startswith("alliance-record-r-0001-")
    sheets = pd.read_excel(io.BytesIO(content), sheet_name=None)
    assert sheets["Sessions"].empty
    assert list(sheets["Sessions"].columns)[:2] == ["Session number", "Date and time"]
    assert "What was noticed" in sheets["Flags"].columns
