"""Ratings exports (long format, CSV and Excel) and a client's record: columns, scope,
formula safety, a fixed number of queries, the CSV streamed in chunks with the same bytes as
when it was built whole, and Excel's row limit."""

import datetime as dt
import io
import json
import zoneinfo
from collections import defaultdict

import openpyxl
import pandas as pd
import pytest
from django.urls import reverse
from django.utils import timezone

from alliance.flags import services as flag_services
from alliance.interop import exports
from alliance.interop.exports import RATING_COLUMNS, ExportScope
from alliance.models import AccessEvent, Episode, Flag
from measures.models import ItemAnswer, Rating, ScaleScore
from tests.api.conftest import api_client_for
from tests.factories import (
    ClientFactory,
    ClinicAdminFactory,
    ClinicFactory,
    TherapistFactory,
    TherapySessionFactory,
    rating_of,
)

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


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _csv(user, **params):
    response = api_client_for(user).get("/api/v1/exports/ratings.csv", params)
    assert response.status_code == 200, _body(response)
    assert response.streaming
    return pd.read_csv(io.BytesIO(_body(response)))


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


def test_constant_queries_at_two_sizes(clients, instruments, therapist, django_assert_num_queries):
    scope = ExportScope()
    with django_assert_num_queries(1):
        small = exports.ratings_frame(exports.ratings_in_scope(therapist, scope))
    for n in range(5):
        _course(ClientFactory(primary_therapist=therapist, code=f"MORE-{n}"), instruments, 4)
    with django_assert_num_queries(1):
        large = exports.ratings_frame(exports.ratings_in_scope(therapist, scope))
    assert len(large) == len(small) + 5 * 4 * 2 * 4


def test_client_record_has_sessions_ratings_and_flags_in_words(clients, therapist):
    own = clients["own"]
    session = own.sessions.get(number=2)
    episode = Episode.objects.create(
        client=own, session=session, last_session=session, kind=Episode.Kind.RUPTURE
    )
    flag_services.episode_acknowledge(episode=episode, user=therapist, action_note="We talked.")
    Flag.objects.create(
        client=own,
        session=session,
        episode=episode,
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
    # The workflow is the episode's: each flag names its episode and shows it.
    assert flags["Episode"].tolist() == [episode.pk]
    assert flags["Status"].tolist() == ["Acknowledged"]
    assert flags["What was done"].tolist() == ["We talked."]
    assert flags["Acknowledged by"].tolist() == [str(therapist)]


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
    assert set(pd.read_csv(io.BytesIO(_body(csv)))["client_code"]) == {"OWN-1"}
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


# --- the CSV streamed, Excel's limit -------------------------------------------------------


def _frame_before_streaming(ratings) -> pd.DataFrame:
    """exports.ratings_frame as it was before the CSV was streamed (three queries, every row
    in memory): the reference the streamed bytes are compared with."""
    rows = list(
        ratings.order_by("session__client__code", "session__number", "rater", "pk").values(
            "pk",
            "rater",
            "submitted_at",
            "instrument__key",
            "instrument__version",
            "session__number",
            "session__starts_at",
            "session__client__code",
            "session__client__clinic__name",
            "session__client__clinic__timezone",
        )
    )
    answers = defaultdict(dict)
    for rating_id, item, value in (
        ItemAnswer.objects.filter(rating__in=ratings)
        .order_by("pk")
        .values_list("rating_id", "item", "value")
    ):
        answers[rating_id][item] = int(value) if float(value).is_integer() else value
    scores = defaultdict(list)
    for rating_id, scale, score, n_answered in (
        ScaleScore.objects.filter(rating__in=ratings)
        .order_by("pk")
        .values_list("rating_id", "scale", "score", "n_answered")
    ):
        scores[rating_id].append((scale, score, n_answered))
    records = []
    for row in rows:
        tz = zoneinfo.ZoneInfo(row["session__client__clinic__timezone"])
        base = {
            "clinic": row["session__client__clinic__name"],
            "client_code": row["session__client__code"],
            "session_number": row["session__number"],
            "session_date": timezone.localtime(row["session__starts_at"], tz).date().isoformat(),
            "rater": row["rater"],
            "instrument_key": row["instrument__key"],
            "instrument_version": row["instrument__version"],
            "submitted_at": timezone.localtime(row["submitted_at"], tz).isoformat(
                timespec="seconds"
            ),
            "answers": json.dumps(answers.get(row["pk"], {}), sort_keys=True),
        }
        for scale, score, n_answered in scores.get(row["pk"], []):
            records.append(base | {"scale": scale, "score": score, "n_answered": n_answered})
    frame = pd.DataFrame.from_records(records, columns=RATING_COLUMNS)
    return frame.astype({"session_number": "Int64", "instrument_version": "Int64"})


@pytest.fixture
def awkward(clients, instruments):
    """Ratings whose cells test the formatting: codes a spreadsheet would run, a clinic in
    another (half-hour) timezone, an empty score, thirds, a non-integer answer, a rating
    without answers or without scores."""
    kolkata = ClinicFactory(name="=Clinic+1", timezone="Asia/Kolkata")
    therapist = TherapistFactory(username="kolkata", clinic=kolkata)
    for code in ["=SUM(A1)", "-7", "+x", "@me", "b-low", "Ärger", "a\tb"]:
        _course(ClientFactory(primary_therapist=therapist, code=code), instruments, 3)
    ratings = Rating.objects.filter(session__client__clinic=kolkata).order_by("pk")
    first, second, third, fourth = ratings[:4]
    ScaleScore.objects.filter(rating=first, scale="bond").update(score=None, n_answered=0)
    ScaleScore.objects.filter(rating=first, scale="goal").update(score=13 / 3)
    ScaleScore.objects.filter(rating=first, scale="total").update(score=0.1 + 0.2)
    ItemAnswer.objects.filter(rating=second, item="bond_1").update(value=2.5)
    ItemAnswer.objects.filter(rating=third).delete()
    ScaleScore.objects.filter(rating=fourth).delete()
    return Rating.objects.all()


@pytest.mark.parametrize(("chunk_rows", "fetch_rows"), [(5, 3), (7, 100), (10_000, 2_000)])
def test_the_streamed_csv_has_the_bytes_of_the_csv_built_whole(
    awkward, monkeypatch, chunk_rows, fetch_rows
):
    monkeypatch.setattr(exports, "CSV_CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(exports, "FETCH_ROWS", fetch_rows)
    before = exports.to_csv(_frame_before_streaming(awkward))
    chunks = list(exports.ratings_csv_chunks(awkward))
    assert b"".join(chunks) == before
    rows = len(before.splitlines()) - 1
    assert rows > 100
    assert len(chunks) == 1 + -(-rows // chunk_rows)  # the heading, then full chunks
    assert b"'=SUM(A1)" in before and b"'=Clinic+1" in before and b"'-7" in before
    assert b",4.333333333333333," in before and b'2.5, ""bond_2""' in before


def test_an_empty_stream_is_the_heading(therapist):
    before = exports.to_csv(_frame_before_streaming(Rating.objects.none()))
    assert b"".join(exports.ratings_csv_chunks(Rating.objects.none())) == before
    assert before.decode().strip() == ",".join(RATING_COLUMNS)


def test_the_stream_takes_one_query_at_any_size(
    clients, instruments, therapist, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(exports, "CSV_CHUNK_ROWS", 5)
    monkeypatch.setattr(exports, "FETCH_ROWS", 4)
    ratings = exports.ratings_in_scope(therapist, ExportScope())
    chunks = exports.ratings_csv_chunks(ratings)
    with django_assert_num_queries(0):
        heading = next(chunks)  # sent before the database is read
    with django_assert_num_queries(1):
        small = heading + b"".join(chunks)
    for n in range(5):
        _course(ClientFactory(primary_therapist=therapist, code=f"MORE-{n}"), instruments, 4)
    with django_assert_num_queries(1):
        large = b"".join(exports.ratings_csv_chunks(ratings))
    assert len(large.splitlines()) == len(small.splitlines()) + 5 * 4 * 2 * 4


def test_a_streamed_export_is_audited(clients, therapist):
    api = api_client_for(therapist)
    response = api.get("/api/v1/exports/ratings.csv", {"client": clients["own"].pk})
    assert response.streaming
    event = AccessEvent.objects.order_by("-pk").first()
    assert (event.action, event.url_name, event.status_code, event.client_id) == (
        "export",
        "api-export-ratings-csv",
        200,
        clients["own"].pk,
    )
    assert len(_body(response).splitlines()) == 17


def test_an_export_too_big_for_excel_points_to_csv(clients, therapist, monkeypatch):
    # 16 rows of ratings and a heading: one row more than this sheet holds.
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 16)
    api = api_client_for(therapist)
    response = api.get("/api/v1/exports/ratings.xlsx")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "export_too_large"
    assert "16 rows" in error["message"]
    assert "Download CSV instead" in error["message"]
    assert api.get("/api/v1/exports/ratings.csv").status_code == 200
    page = api_client_for(therapist)
    page.force_login(therapist)
    own = clients["own"]
    answer = page.get(reverse("client_export_xlsx", args=[own.pk]))
    assert answer.status_code == 400
    assert "Download CSV instead" in answer.content.decode()
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 17)
    assert api.get("/api/v1/exports/ratings.xlsx").status_code == 200


def test_excel_sheets_have_a_bold_frozen_heading_and_the_frames_values(clients, therapist):
    frame = exports.ratings_frame(exports.ratings_in_scope(therapist, ExportScope()))
    workbook = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx({"ratings": frame})))
    sheet = workbook["ratings"]
    assert [cell.value for cell in sheet[1]] == RATING_COLUMNS
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert 8 <= sheet.column_dimensions["L"].width <= 60
    back = pd.read_excel(io.BytesIO(exports.to_xlsx({"ratings": frame})), sheet_name="ratings")
    # Excel has one kind of number: 5.0 reads back as 5.
    pd.testing.assert_frame_equal(back, exports.safe_cells(frame), check_dtype=False)


def test_excel_leaves_missing_values_empty(therapist):
    frame = pd.DataFrame({"a": [1.5, None], "b": pd.array([None, 2], dtype="Int64")})
    sheet = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx({"x": frame})))["x"]
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [
        ["a", "b"],
        [1.5, None],
        [None, 2],
    ]
