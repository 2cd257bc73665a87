"""Flags in the database: the scores frame, the config, and the idempotent upsert."""

import io
import math
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alliance.analytics import DEFAULTS
from alliance.flags import selectors as flag_selectors
from alliance.flags import services as flag_services
from alliance.models import Client, Episode, Flag
from measures.models import Rating
from measures.services import rating_record
from sessions import formlinks
from sessions import services as session_services
from tests.factories import (
    ClientFactory,
    ClinicFactory,
    FlagFactory,
    TherapistFactory,
    rating_of,
)
from tests.flags.helpers import answers_for, course, flag_rows, next_session

pytestmark = pytest.mark.django_db


def total_flag(client, rule="reliable_drop", rater="client", scale="total"):
    return Flag.objects.get(client=client, rule=rule, rater=rater, scale=scale)


# --- the scores frame --------------------------------------------------------------------


def test_scores_frame_has_scores_tension_and_missing_client_forms_in_one_query(
    client_of_therapist, instruments, django_assert_num_queries
):
    course(
        client_of_therapist,
        instruments,
        client_totals=[4.5, None, None, 3.0],
        therapist_totals=[4.0, 4.0, None, None],
        tension=[4],
        cancelled=[3],
    )
    with django_assert_num_queries(1):
        frame = flag_selectors.scores_frame(Client.objects.filter(pk=client_of_therapist.pk))
    scores = frame.scores
    assert list(scores.columns) == ["client", "rater", "scale", "session", "score", "number"]
    totals = scores[scores["scale"] == "total"].sort_values(["rater", "session"])
    rows = [
        (rater, position, number, None if math.isnan(score) else score)
        for rater, position, number, score in zip(
            totals["rater"], totals["session"], totals["number"], totals["score"], strict=True
        )
    ]
    # Session 3 was cancelled: no rows at all, and session 4 is the third held session
    # (position 3). Session 2 has no client form: a NaN row.
    assert rows == [
        ("client", 1, 1, 4.5),
        ("client", 2, 2, None),
        ("client", 3, 4, 3.0),
        ("therapist", 1, 1, 4.0),
        ("therapist", 2, 2, 4.0),
    ]
    tension = scores[scores["scale"] == "tension"].sort_values("session")
    assert list(zip(tension["number"], tension["score"], strict=True)) == [(1, 0.0), (4, 1.0)]
    assert set(scores["client"]) == {client_of_therapist.pk}
    assert set(scores.loc[scores["rater"] == "client", "scale"]) == {
        "bond",
        "goal",
        "task",
        "total",
        "tension",
    }
    held = client_of_therapist.sessions.exclude(number=3).order_by("number")
    assert frame.session_ids == {
        (client_of_therapist.pk, position): s.pk for position, s in enumerate(held, start=1)
    }


def test_scores_frame_of_no_clients_is_empty(db):
    frame = flag_selectors.scores_frame(Client.objects.none())
    assert frame.scores.empty
    assert list(frame.scores.columns) == flag_selectors.SCORES_COLUMNS


# --- the config --------------------------------------------------------------------------


def test_config_merges_clinic_settings_over_defaults_with_instrument_data(clinic, instruments):
    clinic.rule_settings = {"below_baseline": {"k": 1}, "ceiling": {"enabled": False}}
    config = flag_selectors.flag_config_for_clinic(clinic)
    assert config["below_baseline"]["k"] == 1.0
    assert config["below_baseline"]["min_prior"] == DEFAULTS["below_baseline"]["min_prior"]
    assert config["ceiling"]["enabled"] is False
    assert config["reliable_drop"] == DEFAULTS["reliable_drop"]
    assert config["norms"]["client"]["total"] == {
        "sd": 0.65,
        "reliability": 0.9,
        "source": "instrument norms",
    }
    assert config["norms"]["therapist"]["total"]["sd"] == 0.6
    assert config["scale_range"] == {
        "client": {"min": 1.0, "max": 5.0},
        "therapist": {"min": 1.0, "max": 5.0},
    }
    assert config["cutoffs"] == {"client": {}, "therapist": {}}


def test_invalid_stored_settings_fall_back_to_the_defaults(clinic, instruments, caplog):
    clinic.rule_settings = {"below_baseline": {"k": -1}}
    config = flag_selectors.flag_config_for_clinic(clinic)
    assert config["below_baseline"]["k"] == DEFAULTS["below_baseline"]["k"]
    assert "invalid rule settings" in caplog.text


def test_clinic_norms_replace_instrument_norms_from_30_clients(instruments):
    clinic = ClinicFactory(name="Big Clinic")
    therapist = TherapistFactory(clinic=clinic)
    for i in range(30):
        client = ClientFactory(primary_therapist=therapist, code=f"B-{i:03d}")
        first = 3.0 + (i % 10) / 6  # spread between clients, kept by the second rating
        course(client, instruments, client_totals=[first, first + (1 / 6 if i % 3 else 0)])
    norms = flag_selectors.clinic_norms_for(clinic, refresh=True)
    assert norms["client"]["total"]["source"] == "clinic data (30 clients)"
    assert "therapist" not in norms  # no therapist ratings in this clinic
    config = flag_selectors.flag_config_for_clinic(clinic)
    assert config["norms"]["client"]["total"]["source"] == "clinic data (30 clients)"
    # Scales without enough clinic data keep the instrument's norms.
    assert config["norms"]["therapist"]["total"]["source"] == "instrument norms"
    # The cached value is used by a single client's refresh.
    assert flag_selectors.clinic_norms_for(clinic) == norms


def test_clinic_norms_need_30_clients(client_of_therapist, instruments):
    course(client_of_therapist, instruments, client_totals=[4, 4])
    assert flag_selectors.clinic_norms_for(client_of_therapist.clinic, refresh=True) == {}


# --- the upsert --------------------------------------------------------------------------


def test_a_reliable_drop_is_stored_with_its_explanation(client_of_therapist, instruments):
    course(client_of_therapist, instruments, client_totals=[4, 4, 4, 2], refresh=True)
    flag = total_flag(client_of_therapist)
    assert flag.session.number == 4
    assert flag.magnitude == pytest.approx(2.0)
    assert flag.repair_status == Flag.RepairStatus.PENDING
    assert flag.episode.status == Episode.Status.OPEN and flag.retired_at is None
    assert flag.episode.repair_status == Episode.RepairStatus.PENDING
    assert "fell from 4.0 at session 3 to 2.0 at session 4" in flag.explanation
    assert "from instrument norms" in flag.explanation


def test_refresh_twice_changes_nothing(client_of_therapist, instruments):
    course(
        client_of_therapist,
        instruments,
        client_totals=[4, 4, 4, 2, None, None, None],
        therapist_totals=[4, 4, 4, 4, 4, 4, 4],
        tension=[4],
        refresh=True,
    )
    before = flag_rows(client_of_therapist)
    assert len(before) > 3
    updated = sorted(client_of_therapist.flags.values_list("pk", "updated_at"))
    result = flag_services.flags_refresh_for_client(client=client_of_therapist)
    assert (result.created, result.updated, result.retired, result.unretired) == (0, 0, 0, 0)
    assert flag_rows(client_of_therapist) == before
    assert sorted(client_of_therapist.flags.values_list("pk", "updated_at")) == updated


def test_acknowledgement_survives_and_repair_status_follows_later_scores(
    client_of_therapist, therapist, instruments
):
    course(client_of_therapist, instruments, client_totals=[4, 4, 4, 2], refresh=True)
    flag = total_flag(client_of_therapist)
    flag_services.episode_acknowledge(
        episode=flag.episode,
        user=therapist,
        action_note="Discussed the tension next session.",
        rupture_type=Episode.RuptureType.WITHDRAWAL,
        repair_strategy=Episode.RepairStrategy.EXPLORE_TOGETHER,
    )
    flag_services.episode_comment_add(
        episode=flag.episode, user=therapist, text="Client agreed to say so next time."
    )
    # The next session brings the client's total back to the pre-drop level: repaired.
    session5 = next_session(client_of_therapist)
    rating_of(session5, instruments["client"], answers=answers_for(4))  # stored, then refreshed
    flag.refresh_from_db()
    assert flag.repair_status == Flag.RepairStatus.REPAIRED
    assert flag.repaired_session == session5
    episode = Episode.objects.get(pk=flag.episode_id)
    assert (episode.repair_status, episode.repaired_session) == ("repaired", session5)
    assert episode.status == Episode.Status.ACKNOWLEDGED
    assert episode.action_note == "Discussed the tension next session."
    assert episode.rupture_type == "withdrawal" and episode.repair_strategy == "explore_together"
    assert episode.acknowledged_by == therapist
    assert episode.comments.count() == 1
    assert Flag.objects.filter(client=client_of_therapist, rule="reliable_drop").count() >= 1


def test_a_corrected_rating_retires_the_flag_and_its_return_restores_it(
    client_of_therapist, therapist, instruments
):
    sessions = course(client_of_therapist, instruments, therapist_totals=[4, 4, 4, 2], refresh=True)
    flag = total_flag(client_of_therapist, rater="therapist")
    flag_services.episode_acknowledge(
        episode=flag.episode, user=therapist, action_note="Talked it over."
    )
    rating = Rating.objects.get(session=sessions[4], rater="therapist")

    rating = session_services.session_therapist_rating_update(
        rating=rating, user=therapist, answers=answers_for(4), expected_revision=rating.revision
    )
    flag.refresh_from_db()
    assert flag.retired_at is not None  # kept, not deleted
    assert flag not in Flag.objects.active()
    assert not Episode.objects.active().filter(pk=flag.episode_id).exists()

    session_services.session_therapist_rating_update(
        rating=rating, user=therapist, answers=answers_for(2), expected_revision=rating.revision
    )
    flag.refresh_from_db()
    assert flag.retired_at is None
    episode = Episode.objects.get(pk=flag.episode_id)
    assert episode.retired_at is None and episode.status == Episode.Status.ACKNOWLEDGED
    assert episode.action_note == "Talked it over."
    # The same row came back: no duplicate of its identity.
    assert (
        client_of_therapist.flags.filter(
            rule="reliable_drop", rater="therapist", scale="total"
        ).count()
        == 1
    )


def test_switching_a_rule_off_retires_its_flags_and_on_brings_them_back(
    client_of_therapist, instruments, clinic
):
    course(client_of_therapist, instruments, client_totals=[4, 4, 4, 2], refresh=True)
    flag = total_flag(client_of_therapist)
    clinic.rule_settings = {"reliable_drop": {"enabled": False}}
    clinic.save()
    flag_services.flags_refresh_for_client(client=Client.objects.get(pk=client_of_therapist.pk))
    flag.refresh_from_db()
    assert flag.retired_at is not None
    clinic.rule_settings = {}
    clinic.save()
    result = flag_services.flags_refresh_for_client(
        client=Client.objects.get(pk=client_of_therapist.pk)
    )
    flag.refresh_from_db()
    assert flag.retired_at is None
    assert result.unretired >= 1


def test_missing_forms_and_tension_become_flags(client_of_therapist, instruments):
    course(
        client_of_therapist,
        instruments,
        client_totals=[4, 4, None, None, None],
        therapist_totals=[4, 4, 4, 4, 4],
        tension=[2],
        refresh=True,
    )
    missing = Flag.objects.get(client=client_of_therapist, rule="missing_forms")
    assert missing.session.number == 5 and missing.magnitude == 3
    tension = Flag.objects.get(client=client_of_therapist, rule="client_reported_tension")
    assert tension.session.number == 2 and tension.scale == "tension"


def test_measures_stores_a_rating_and_leaves_the_flags_to_its_caller(
    client_of_therapist, instruments
):
    course(client_of_therapist, instruments, client_totals=[4, 4, 4])
    session4 = next_session(client_of_therapist)
    rating_record(session=session4, instrument=instruments["client"], answers=answers_for(2))
    assert not Flag.objects.exists()  # measures imports nothing from alliance


def test_the_client_form_refreshes_the_clients_flags(client_of_therapist, therapist, instruments):
    course(client_of_therapist, instruments, client_totals=[4, 4, 4])
    assert not Flag.objects.exists()
    session4 = next_session(client_of_therapist)
    link, _token = formlinks.formlink_create(session=session4, created_by=therapist)
    formlinks.formlink_submit(
        link=link,
        instrument=instruments["client"],
        answers=answers_for(2),
        questions={},
        submission_id=uuid.uuid4(),
        language="en",
    )
    assert total_flag(client_of_therapist).session == session4


def test_the_therapist_form_refreshes_the_clients_flags(
    client_of_therapist, therapist, instruments
):
    course(client_of_therapist, instruments, therapist_totals=[4, 4, 4])
    assert not Flag.objects.exists()
    session4 = next_session(client_of_therapist)
    session_services.session_therapist_rating_record(
        session=session4, user=therapist, answers=answers_for(2)
    )
    assert total_flag(client_of_therapist, rater="therapist").session == session4


def refresh_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        flag_services.flags_refresh_for_client(client=Client.objects.get(pk=client.pk))
    return len(queries)


def make_work(client):
    """Leave the client's stored flags so that a refresh creates, updates and retires some.

    (SQLite splits a bulk write at 999 parameters, about 58 new flags per INSERT: the counts
    stay below that. PostgreSQL has no such limit.)
    """
    client.flags.filter(rule="reliable_drop", scale="total").delete()
    client.flags.update(magnitude=99)
    FlagFactory(
        session=client.sessions.get(number=1),
        rule="low_alliance",
        magnitude=1,
        explanation="No longer true.",
    )


def test_the_number_of_queries_does_not_grow_with_the_series(
    therapist, instruments, django_assert_max_num_queries
):
    short = ClientFactory(primary_therapist=therapist, code="SHORT")
    course(short, instruments, client_totals=[4, 4, 4, 2], therapist_totals=[4] * 4, refresh=True)
    long = ClientFactory(primary_therapist=therapist, code="LONG")
    totals = [4, 4, 4, 2, 4, 4, 4, 2, 2.5, 4] * 3
    course(long, instruments, client_totals=totals, therapist_totals=[4, 2] * 15, refresh=True)
    assert long.flags.count() > 5 * short.flags.count()
    # Reads only (nothing changed), then creates, updates and retirements in bulk.
    assert refresh_queries(long) == refresh_queries(short)
    make_work(short)
    with_writes = refresh_queries(short)
    make_work(long)
    with django_assert_max_num_queries(with_writes):
        result = flag_services.flags_refresh_for_client(client=Client.objects.get(pk=long.pk))
    assert result.created >= 5 and result.updated >= 5 and result.retired == 1


# --- batches and the command -------------------------------------------------------------


def make_clinic_courses(instruments, count=7):
    clinic = ClinicFactory(name="Batch Clinic")
    therapist = TherapistFactory(clinic=clinic)
    clients = []
    for i in range(count):
        client = ClientFactory(primary_therapist=therapist, code=f"K-{i:02d}")
        drop = [4, 4, 4, 2, 2, 4] if i % 2 else [4, 4, 4, 4, None, None, None]
        course(client, instruments, client_totals=drop, therapist_totals=[4] * len(drop))
        clients.append(client)
    return clinic, clients


def test_refresh_flags_command_recomputes_every_client_in_batches(instruments):
    clinic, clients = make_clinic_courses(instruments)
    out = io.StringIO()
    call_command("refresh_flags", "--batch-size", "3", stdout=out)
    output = out.getvalue()
    assert "Batch Clinic" in output and "7 clients" in output and "rows/s" in output
    assert all(client.flags.exists() for client in clients)
    rows = {client.pk: flag_rows(client) for client in clients}
    # The same flags as one client at a time, and a second run changes nothing.
    for client in clients:
        flag_services.flags_refresh_for_client(client=client)
    assert {client.pk: flag_rows(client) for client in clients} == rows
    out = io.StringIO()
    call_command("refresh_flags", "--clinic", str(clinic.pk), stdout=out)
    assert "0 new, 0 updated, 0 retired" in out.getvalue()


def test_refresh_flags_command_rejects_an_unknown_clinic(db):
    with pytest.raises(CommandError, match="No clinic"):
        call_command("refresh_flags", "--clinic", "999999", stdout=io.StringIO())
    with pytest.raises(CommandError, match="batch-size"):
        call_command("refresh_flags", "--batch-size", "0", stdout=io.StringIO())


def test_a_batch_only_touches_its_own_clinics_clients(instruments, client_of_therapist):
    course(client_of_therapist, instruments, client_totals=[4, 4, 4, 2])
    other, clients = make_clinic_courses(instruments, count=2)
    result = flag_services.flags_refresh(
        clinic=other,
        client_ids=[client_of_therapist.pk, *(c.pk for c in clients)],
        config=flag_selectors.flag_config_for_clinic(other),
    )
    assert result.clients == 2
    assert not client_of_therapist.flags.exists()
