"""Positions are held sessions: the rupture engine counts the sessions that took place, in the
order they took place, and session numbers follow dates (docs/ruptures.md, "Positions")."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from alliance.flags.services import flags_refresh_for_client
from alliance.models import Flag
from sessions import services as session_services
from sessions.models import TherapySession
from tests.factories import rating_of
from tests.flags.helpers import answers_for, course

pytestmark = pytest.mark.django_db

Status = TherapySession.Status


def _flags(client, rule):
    return list(
        Flag.objects.filter(client=client, rule=rule, retired_at__isnull=True)
        .select_related("session", "repaired_session")
        .order_by("session__number")
    )


def test_a_session_held_before_a_scheduled_one_takes_its_place_and_its_drop_is_flagged(
    client_of_therapist, therapist, instruments
):
    """RDC-004: session 10 was scheduled for next week; the therapist then recorded a session
    held two days ago whose client total fell from 4.67 to 3.83 (threshold 0.57)."""
    client = client_of_therapist
    held = course(client, instruments, client_totals=[4.67] * 9, refresh=True)
    now = timezone.now()
    scheduled = session_services.session_schedule(
        client=client, therapist=therapist, starts_at=now + dt.timedelta(days=3)
    )
    assert scheduled.number == 10
    recorded = session_services.session_schedule(
        client=client,
        therapist=therapist,
        starts_at=now - dt.timedelta(days=2),
        status=Status.COMPLETED,
    )
    assert recorded.number == 10
    scheduled.refresh_from_db()
    assert scheduled.number == 11
    assert held[9].starts_at < recorded.starts_at < scheduled.starts_at
    # The change history keeps the move of the scheduled session.
    assert [h.number for h in scheduled.history.order_by("history_id")] == [10, 11]

    rating_of(recorded, instruments["client"], answers_for(3.83))

    (drop,) = _flags(client, Flag.Rule.RELIABLE_DROP)
    assert drop.session == recorded
    assert drop.explanation.startswith(
        "Client-rated total fell from 4.67 at session 9 to 3.83 at session 10 (drop 0.83 ≥ "
        "reliable-change threshold 0.57"
    )


def test_moving_a_session_to_another_date_renumbers_the_course_and_refreshes_the_flags(
    client_of_therapist, therapist, instruments
):
    client = client_of_therapist
    sessions = course(client, instruments, client_totals=[4.5, 4.5, 4.5, 3.0], refresh=True)
    (drop,) = _flags(client, Flag.Rule.RELIABLE_DROP)
    assert drop.session == sessions[4]
    # Session 4 was really held between sessions 1 and 2: it becomes session 2.
    moved = session_services.session_update(
        session=sessions[4],
        starts_at=sessions[1].starts_at + dt.timedelta(days=1),
        note="",
    )
    assert moved.number == 2
    numbers = dict(client.sessions.values_list("pk", "number"))
    assert [numbers[sessions[n].pk] for n in (1, 2, 3, 4)] == [1, 3, 4, 2]
    (drop,) = _flags(client, Flag.Rule.RELIABLE_DROP)
    assert drop.session == sessions[4]
    assert "from 4.5 at session 1 to 3.0 at session 2" in drop.explanation


def test_scheduled_sessions_never_marked_held_are_not_positions(
    client_of_therapist, therapist, instruments
):
    client = client_of_therapist
    sessions = course(client, instruments, client_totals=[4.5, 4.5, 4.5, None, 3.0])
    TherapySession.objects.filter(pk=sessions[4].pk).update(status=Status.SCHEDULED)
    flags_refresh_for_client(client=client)
    (drop,) = _flags(client, Flag.Rule.RELIABLE_DROP)
    assert drop.session == sessions[5]
    assert "from 4.5 at session 3 to 3.0 at session 5" in drop.explanation
    # Nor is a no-show: marking it so changes nothing.
    session_services.session_set_status(session=sessions[4], status=Status.NO_SHOW)
    assert [flag.session for flag in _flags(client, Flag.Rule.RELIABLE_DROP)] == [sessions[5]]


def test_a_scheduled_session_rated_by_its_therapist_is_held_when_its_flags_are_computed(
    client_of_therapist, therapist, instruments
):
    client = client_of_therapist
    course(client, instruments, therapist_totals=[5.0] * 4, refresh=True)
    last = client.sessions.order_by("-number").first()
    scheduled = session_services.session_schedule(
        client=client, therapist=therapist, starts_at=last.starts_at + dt.timedelta(days=2)
    )
    session_services.session_therapist_rating_record(
        session=scheduled, user=scheduled.therapist, answers=answers_for(3.0)
    )
    (drop,) = _flags(client, Flag.Rule.RELIABLE_DROP)
    assert drop.session == scheduled
    assert drop.rater == "therapist"


def test_marking_a_session_cancelled_or_held_refreshes_the_flags(
    client_of_therapist, therapist, instruments
):
    client = client_of_therapist
    sessions = course(client, instruments, client_totals=[4.5, 4.5, 4.5, None, 3.0])
    cancelled = session_services.session_set_status(session=sessions[4], status=Status.CANCELLED)
    assert [flag.session for flag in _flags(client, Flag.Rule.RELIABLE_DROP)] == [sessions[5]]
    session_services.session_set_status(session=cancelled, status=Status.COMPLETED)
    assert _flags(client, Flag.Rule.RELIABLE_DROP) == []


# --- a cancelled session between two held ones blocks no rule ------------------------------


def test_a_cancelled_session_between_held_ones_blocks_no_drop_rule(
    client_of_therapist, instruments
):
    client = client_of_therapist
    sessions = course(
        client,
        instruments,
        client_totals=[4.5, 4.5, 4.5, None, 3.0, 3.17, 3.0],
        cancelled=[4],
        refresh=True,
    )
    for rule in (Flag.Rule.RELIABLE_DROP, Flag.Rule.SUDDEN_LOSS, Flag.Rule.BELOW_BASELINE):
        assert [flag.session for flag in _flags(client, rule)] == [sessions[5]], rule
    (loss,) = _flags(client, Flag.Rule.SUDDEN_LOSS)
    assert "fell from 4.5 at session 3 to 3.0 at session 5" in loss.explanation
    assert "the mean of sessions 1 to 3 (4.5, 3 scores)" in loss.explanation
    assert "the mean of sessions 5 to 7 (3.06, 3 scores)" in loss.explanation


def test_the_repair_window_counts_held_sessions(client_of_therapist, instruments):
    client = client_of_therapist
    sessions = course(
        client,
        instruments,
        client_totals=[4.5, 4.5, 4.5, 3.0, None, 3.0, None, 3.0, 4.5],
        cancelled=[5, 7],
        refresh=True,
    )
    (drop,) = _flags(client, Flag.Rule.RELIABLE_DROP)
    # W = 3 held sessions after session 4: sessions 6, 8 and 9 (5 and 7 were cancelled).
    assert drop.session == sessions[4]
    assert drop.repair_status == "repaired"
    assert drop.repaired_session == sessions[9]


def test_the_sudden_loss_windows_count_held_sessions(client_of_therapist, instruments):
    client = client_of_therapist
    sessions = course(
        client,
        instruments,
        client_totals=[4.5, None, 4.5, 4.5, 3.0, None, 3.0, 3.0],
        cancelled=[2, 6],
        refresh=True,
    )
    (loss,) = _flags(client, Flag.Rule.SUDDEN_LOSS)
    assert loss.session == sessions[5]
    # Three held sessions on each side, not session numbers 2-4 and 5-7.
    assert "the mean of sessions 1 to 4 (4.5, 3 scores)" in loss.explanation
    assert "the mean of sessions 5 to 8 (3.0, 3 scores)" in loss.explanation


def test_ceiling_counts_the_first_held_sessions(client_of_therapist, instruments):
    client = client_of_therapist
    sessions = course(
        client, instruments, client_totals=[5.0, None, 5.0, 5.0, 4.5], cancelled=[2], refresh=True
    )
    (ceiling,) = _flags(client, Flag.Rule.CEILING)
    assert ceiling.session == sessions[4]


def test_missing_forms_counts_the_last_held_sessions(client_of_therapist, instruments):
    client = client_of_therapist
    sessions = course(
        client,
        instruments,
        client_totals=[4.5, None, None, None, None, None],
        therapist_totals=[4.0, 4.0, 4.0, 4.0, 4.0, 4.0],
        cancelled=[3],
    )
    TherapySession.objects.filter(pk=sessions[5].pk).update(status=Status.SCHEDULED)
    flags_refresh_for_client(client=client)
    (missing,) = _flags(client, Flag.Rule.MISSING_FORMS)
    # Held without a client form: 2, 4 and 6 (3 was cancelled, 5 never marked held).
    assert missing.session == sessions[6]
    assert "(sessions 2 to 6); the run reached 3 at session 6" in missing.explanation


def test_rdc004_flags_explain_sessions_as_the_session_list_numbers_them(
    client_of_therapist, therapist, instruments
):
    """The flag's session, its explanation and the session list agree after a renumbering."""
    client = client_of_therapist
    course(client, instruments, client_totals=[4.67] * 3, refresh=True)
    now = timezone.now()
    session_services.session_schedule(
        client=client, therapist=therapist, starts_at=now + dt.timedelta(days=3)
    )
    recorded = session_services.session_schedule(
        client=client,
        therapist=therapist,
        starts_at=now - dt.timedelta(days=1),
        status=Status.COMPLETED,
    )
    rating_of(recorded, instruments["client"], answers_for(3.83))
    listed = list(client.sessions.order_by("number").values_list("number", "starts_at"))
    assert listed == sorted(listed, key=lambda row: row[1])
    (drop,) = _flags(client, Flag.Rule.RELIABLE_DROP)
    assert f"at session {drop.session.number} (" in drop.explanation


def test_the_chart_joins_held_sessions_by_number_and_marks_the_flag_there(
    client_of_therapist, instruments
):
    from alliance import charts, dashboards

    client = client_of_therapist
    course(client, instruments, client_totals=[4.5, 4.5, 4.5, None, 3.0], cancelled=[4])
    flags_refresh_for_client(client=client)
    series = dashboards.client_series(
        client,
        sessions=client.sessions.order_by("number"),
        flags=Flag.objects.active().filter(client=client).select_related("session"),
    )
    figure = charts.client_alliance_figure_dict(
        series.scores, series.sessions, series.flags, scale_range=(1.0, 5.0)
    )
    traces = [t for t in figure["data"] if t.get("legendgroup") == "client-total"]
    # The cancelled session 4 is no point of the line: 3 and 5 are joined, as the flag says.
    assert list(traces[0]["x"]) == [1, 2, 3, 5]
    assert [round(y, 2) for y in traces[0]["y"]] == [4.5, 4.5, 4.5, 3.0]
    markers = [t for t in figure["data"] if t.get("mode") == "markers+text"]
    assert [list(t["x"]) for t in markers] == [[5]]


def test_existing_sessions_out_of_date_order_are_renumbered_by_the_command(
    client_of_therapist, instruments
):
    """Data entered before numbers followed dates: the command puts it right, once."""
    client = client_of_therapist
    sessions = course(client, instruments, client_totals=[4.5, 4.5, 4.5], refresh=True)
    second, third = sessions[2], sessions[3]
    # As the old numbering could leave it: session 3 was held before session 2.
    TherapySession.objects.filter(pk=second.pk).update(starts_at=third.starts_at)
    TherapySession.objects.filter(pk=third.pk).update(starts_at=second.starts_at)

    call_command("renumber_sessions")
    second.refresh_from_db()
    third.refresh_from_db()
    assert (second.number, third.number) == (3, 2)
    by_number = list(client.sessions.order_by("number").values_list("starts_at", flat=True))
    assert by_number == sorted(by_number)
    again = StringIO()
    call_command("renumber_sessions", stdout=again)
    assert again.getvalue().startswith("0 of 1 clients")
