"""Import of historical ratings: a dry run reports every problem by row and column; apply
is all-or-nothing; the documented example imports cleanly into the demo clinic."""

import datetime as dt
import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from alliance.interop.imports import ImportRejected, ratings_import_apply, ratings_import_check
from alliance.models import Clinic
from measures.models import Rating
from sessions.models import TherapySession
from tests.api.conftest import api_client_for
from tests.factories import ClientFactory, ClinicAdminFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db

HEADER = (
    "client_code,session_number,session_date,rater,therapist,"
    "bond_1,goal_1,task_1,bond_2,goal_2,task_2,tension,comment\n"
)


def yesterday(clinic) -> str:
    """A date for a new session: after the fixture's sessions, and its noon is past."""
    return (timezone.localdate(timezone=clinic.tzinfo) - dt.timedelta(days=1)).isoformat()


@pytest.fixture
def course(client_of_therapist, instruments):
    """R-0001 with sessions 1 (both ratings) and 2 (therapist only) five days apart."""
    now = timezone.now()
    first = TherapySessionFactory(
        client=client_of_therapist, number=1, starts_at=now - dt.timedelta(days=8)
    )
    second = TherapySessionFactory(
        client=client_of_therapist, number=2, starts_at=now - dt.timedelta(days=3)
    )
    rating_of(first, instruments["client"])
    rating_of(first, instruments["therapist"])
    rating_of(second, instruments["therapist"])
    return client_of_therapist


def _problems(report):
    return {(p.row, p.column): p.message for p in report.problems}


def test_a_clean_file_is_checked_then_applied(course, therapist):
    text = HEADER + (
        "R-0001,2,,client,,4,4,4,4,4,4,no,late paper form\n"
        f"R-0001,3,{yesterday(course.clinic)},therapist,therapist,3,3,3,3,3,3,,\n"
    )
    report = ratings_import_check(clinic=course.clinic, text=text)
    assert report.problems == []
    assert (report.rows, len(report.planned), report.sessions_to_create) == (2, 2, 1)
    assert Rating.objects.count() == 3

    applied = ratings_import_apply(clinic=course.clinic, text=text)
    assert applied.applied
    assert Rating.objects.count() == 5
    new = TherapySession.objects.get(client=course, number=3)
    assert new.status == TherapySession.Status.COMPLETED
    assert new.therapist == therapist
    assert timezone.localtime(new.starts_at, course.clinic.tzinfo).hour == 12
    client_rating = Rating.objects.get(session__number=2, rater="client")
    assert client_rating.comment == "late paper form"
    assert client_rating.submitted_by is None
    assert Rating.objects.get(session=new).submitted_by == therapist


def test_the_dry_run_reports_every_problem_by_row_and_column(course, other_therapist):
    text = HEADER.replace("comment\n", "comment,mood\n") + (
        "R-9999,1,,client,,4,4,4,4,4,4,,,\n"  # 2: unknown client
        "R-0001,zero,,client,,4,4,4,4,4,4,,,\n"  # 3: bad session number
        "R-0001,1,,client,,4,4,4,4,4,4,,,\n"  # 4: duplicate of an existing rating
        "R-0001,2,,client,,6,4,4,4,4,4,,,\n"  # 5: out-of-range answer
        "R-0001,2,,client,,4,4,4,4,4,4,,,\n"  # 6: fine
        "R-0001,2,,client,,4,4,4,4,4,4,,,\n"  # 7: duplicate of row 6
        "R-0001,2,,client,,4,4,4,4,4,4,,,great\n"  # 8: unknown item (and duplicate)
        "R-0001,7,,client,,4,4,4,4,4,4,,,\n"  # 9: a new session needs its date
        "R-0001,8,2001-01-01,therapist,nobody,4,4,4,4,4,4,,,\n"  # 10: order, therapist
        "R-0001,2,,patient,,4,4,4,4,4,4,,,\n"  # 11: unknown rater
        "R-0001,2,,client,,,,,,,,maybe,,\n"  # 12: nothing answered, bad yes/no
    )
    report = ratings_import_check(clinic=course.clinic, text=text)
    problems = _problems(report)
    assert problems[(1, "mood")].startswith("Unknown column")
    assert problems[(2, "client_code")] == "No client “R-9999” in this clinic."
    assert problems[(3, "session_number")].startswith("Enter a whole number")
    assert problems[(4, "rater")] == "Session 1 of R-0001 already has a client rating."
    assert problems[(5, "bond_1")].startswith("6 is out of range")
    assert (6, "bond_1") not in problems
    assert problems[(7, "rater")] == "Duplicate of row 6 (same session and rater)."
    assert problems[(8, "mood")] == "Not an item of alliance-client (v1)."
    assert problems[(9, "session_date")] == "Enter the date of this new session."
    assert problems[(10, "therapist")] == "No active therapist “nobody” in this clinic."
    assert problems[(10, "session_number")].startswith("Session 8 cannot be dated 2001-01-01")
    assert problems[(11, "rater")] == "Enter “client” or “therapist”."
    assert problems[(12, "")] == "The row answers no item."
    assert problems[(12, "tension")] == "Answer yes or no."
    assert len(report.planned) == 1


def test_apply_is_all_or_nothing(course):
    text = HEADER + (
        "R-0001,2,,client,,4,4,4,4,4,4,,\n"
        f"R-0001,3,{yesterday(course.clinic)},therapist,,4,4,4,4,4,4,,\n"
        "R-0001,4,,client,,4,4,4,4,4,9,,\n"
    )
    before = (Rating.objects.count(), TherapySession.objects.count())
    with pytest.raises(ImportRejected) as rejected:
        ratings_import_apply(clinic=course.clinic, text=text)
    assert {(p.row, p.column) for p in rejected.value.report.problems} >= {
        (4, "task_2"),
        (4, "session_date"),
    }
    assert (Rating.objects.count(), TherapySession.objects.count()) == before


def test_apply_is_all_or_nothing_even_when_a_write_fails(course, monkeypatch):
    """A failure while writing (after a clean check) rolls back the rows already written."""
    from alliance.interop import imports

    text = HEADER + (
        "R-0001,2,,client,,4,4,4,4,4,4,,\n"
        f"R-0001,3,{yesterday(course.clinic)},therapist,,4,4,4,4,4,4,,\n"
    )
    real = imports.rating_record
    calls = []

    def failing(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            from django.core.exceptions import ValidationError

            raise ValidationError("Disk on fire.")
        return real(**kwargs)

    monkeypatch.setattr(imports, "rating_record", failing)
    before = (Rating.objects.count(), TherapySession.objects.count())
    with pytest.raises(ImportRejected) as rejected:
        ratings_import_apply(clinic=course.clinic, text=text)
    assert [(p.row, p.message) for p in rejected.value.report.problems] == [(3, "Disk on fire.")]
    assert (Rating.objects.count(), TherapySession.objects.count()) == before


def test_flags_are_refreshed_once_per_client(course, monkeypatch):
    from alliance.flags import services

    refreshed = []
    monkeypatch.setattr(
        services, "flags_refresh_for_client", lambda *, client, **_: refreshed.append(client.code)
    )
    other = ClientFactory(primary_therapist=course.primary_therapist, code="R-0002")
    TherapySessionFactory(client=other, number=1)
    text = HEADER + (
        "R-0001,2,,client,,4,4,4,4,4,4,,\n"
        "R-0002,1,,client,,4,4,4,4,4,4,,\n"
        "R-0002,1,,therapist,,4,4,4,4,4,4,,\n"
    )
    ratings_import_apply(clinic=course.clinic, text=text)
    assert sorted(refreshed) == ["R-0001", "R-0002"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", (1, "client_code")),
        ("client_code,session_number\nR-0001,1\n", (1, "rater")),
        (HEADER, (1, "")),
        ("client_code,session_number,rater,rater\nR-0001,1,client,client\n", (1, "rater")),
        ('client_code,session_number,rater,bond_1\n"R-0001,1,client,4\n', (2, "client_code")),
        ("client_code,session_number,rater,bond_1\nR-0001,2,client,4,5\n", (2, "")),
    ],
)
def test_broken_files_are_reported_not_crashed_on(course, text, problem):
    report = ratings_import_check(clinic=course.clinic, text=text)
    assert problem in {(p.row, p.column) for p in report.problems}


def test_the_api_dry_run_and_apply(course):
    admin = ClinicAdminFactory(clinic=course.clinic, username="admin")
    api = api_client_for(admin)
    good = (HEADER + "R-0001,2,,client,,4,4,4,4,4,4,,\n").encode()
    bad = (HEADER + "R-0001,2,,client,,4,4,4,4,4,8,,\n").encode()
    upload = io.BytesIO(good)
    upload.name = "ratings.csv"
    checked = api.post("/api/v1/imports/ratings/", {"file": upload}, format="multipart")
    assert checked.status_code == 200
    assert checked.json()["ratings"] == 1 and not checked.json()["applied"]
    assert Rating.objects.count() == 3

    refused = api.post("/api/v1/imports/ratings/?dry_run=false", data=bad, content_type="text/csv")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "row 2: task_2": ["8 is out of range. Enter a whole number from 1 to 5."]
    }
    applied = api.post("/api/v1/imports/ratings/?dry_run=false", data=good, content_type="text/csv")
    assert applied.status_code == 200
    assert applied.json()["applied"] and applied.json()["sessions_created"] == 0
    assert Rating.objects.count() == 4
    not_utf8 = api.post("/api/v1/imports/ratings/", data=b"\xff\xfe\x00", content_type="text/csv")
    assert not_utf8.status_code == 400
    assert "file" in not_utf8.json()["error"]["fields"]


def test_the_command(course, tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text(HEADER + "R-0001,2,,client,,4,4,4,4,4,4,,\n")
    out = io.StringIO()
    call_command("import_ratings", str(path), "--clinic", str(course.clinic_id), stdout=out)
    assert out.getvalue().startswith("Dry run: 1 rating(s)")
    assert Rating.objects.count() == 3
    call_command(
        "import_ratings", str(path), "--clinic", str(course.clinic_id), "--apply", stdout=out
    )
    assert Rating.objects.count() == 4
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 problem"):
        call_command(
            "import_ratings", str(path), "--clinic", str(course.clinic_id), stdout=out, stderr=err
        )
    assert err.getvalue() == "row 2, rater: Session 2 of R-0001 already has a client rating.\n"


def test_the_documented_example_imports_into_the_demo_clinic(instruments):
    from alliance.devtools.demo import demo_seed

    demo_seed()
    clinic = Clinic.objects.get(name="Riverside Demo Clinic")
    text = (Path(settings.BASE_DIR) / "docs" / "import-example.csv").read_text()
    before = Rating.objects.count()
    report = ratings_import_apply(clinic=clinic, text=text)
    assert report.problems == []
    assert Rating.objects.count() == before + report.rows == before + 8


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f"])
def test_a_control_character_in_a_cell_is_refused_by_row_and_column(course, character):
    """A NUL byte once reached the database (a 500 on PostgreSQL): such a file is not text."""
    text = HEADER + (
        "R-0001,2,,client,,4,4,4,4,4,4,,\n"
        f"R{character}X,9,,client,,4,4,4,4,4,4,,\n"
        f"R-0001,3,{yesterday(course.clinic)},therapist,therapist,3,3,3,3,3,3,,o{character}k\n"
    )
    with pytest.raises(ImportRejected) as rejected:
        ratings_import_check(clinic=course.clinic, text=text)
    problems = _problems(rejected.value.report)
    code = f"U+{ord(character):04X}"
    assert problems[(3, "client_code")].startswith(f"Column 1 holds a control character ({code})")
    assert problems[(4, "comment")].startswith(f"Column 13 holds a control character ({code})")
    assert len(problems) == 2
    with pytest.raises(ImportRejected):
        ratings_import_apply(clinic=course.clinic, text=text)
    assert Rating.objects.count() == 3


def test_a_control_character_in_the_header_is_refused(course):
    text = HEADER.replace("tension", "ten\x00sion") + "R-0001,2,,client,,4,4,4,4,4,4,,\n"
    with pytest.raises(ImportRejected) as rejected:
        ratings_import_check(clinic=course.clinic, text=text)
    assert _problems(rejected.value.report) == {
        (1, ""): "Column 12 holds a control character (U+0000), which is not text: remove it, "
        "or save the file again as “CSV UTF-8”."
    }


@pytest.mark.parametrize("dry_run", ["true", "false"])
def test_the_api_refuses_a_nul_byte_with_its_row_and_column(course, dry_run):
    admin = ClinicAdminFactory(clinic=course.clinic, username="admin")
    answer = api_client_for(admin).post(
        f"/api/v1/imports/ratings/?dry_run={dry_run}",
        data=b"client_code,session_number,rater,bond_1\nR\x00X,9,client,4\n",
        content_type="text/csv",
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == {
        "row 2: client_code": [
            "Column 1 holds a control character (U+0000), which is not text: remove it, "
            "or save the file again as “CSV UTF-8”."
        ]
    }


def test_the_dry_run_warns_that_a_follow_up_without_tension_is_not_imported(course, tmp_path):
    header = HEADER.replace("tension,comment", "tension,tension_addressed,comment")
    text = header + (
        "R-0001,2,,client,,4,4,4,4,4,4,no,3,\n"
        f"R-0001,3,{yesterday(course.clinic)},client,,4,4,4,4,4,4,,2,\n"
    )
    expected = [
        {
            "row": 2,
            "column": "tension_addressed",
            "message": "“3” is not imported: tension_addressed only counts when tension is "
            "“yes” (here “no”).",
        },
        {
            "row": 3,
            "column": "tension_addressed",
            "message": "“2” is not imported: tension_addressed only counts when tension is "
            "“yes” (here tension is empty).",
        },
    ]
    admin = ClinicAdminFactory(clinic=course.clinic, username="admin")
    checked = api_client_for(admin).post(
        "/api/v1/imports/ratings/", data=text.encode(), content_type="text/csv"
    )
    assert checked.status_code == 200
    assert checked.json()["problems"] == []
    assert checked.json()["warnings"] == expected

    path = tmp_path / "ratings.csv"
    path.write_text(text)
    out = io.StringIO()
    call_command("import_ratings", str(path), "--clinic", str(course.clinic_id), stdout=out)
    assert out.getvalue().startswith(
        "row 2, tension_addressed: warning: “3” is not imported: tension_addressed only counts "
        "when tension is “yes” (here “no”).\n"
    )
    report = ratings_import_apply(clinic=course.clinic, text=text)
    assert [vars(warning) for warning in report.warnings] == expected
    assert Rating.objects.get(session__number=2, rater="client").tension_addressed is None
