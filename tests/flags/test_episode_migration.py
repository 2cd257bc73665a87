"""Migration 0009_episodes on data recorded before episodes existed: every flag joins its
episode, and the acknowledgements, resolutions, comments and workflow history move there with
nothing lost (issue 17).

The database goes back to 0008 with MigrationExecutor, the old records are written with the
historical models of that state, and the migration runs forward. A transactional test, since
schema changes cannot run inside the test's transaction; it always leaves the database
migrated to the latest state, for the tests that follow.
"""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("alliance", "0008_clinic_kiosk_session_days")
UTC = dt.UTC


def at(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=UTC)


def migrate(*, before_episodes: bool):
    """Migrate alliance to 0008 (every other app at its latest) or everything to the latest,
    and return the models of that state."""
    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    if before_episodes:
        targets = [BEFORE, *(node for node in targets if node[0] != BEFORE[0])]
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before_episodes(transactional_db):
    """The models of the schema before episodes; the database at the latest state after."""
    try:
        yield migrate(before_episodes=True)
    finally:
        migrate(before_episodes=False)


def sessions_of(apps, client, *statuses):
    """The client's sessions a week apart from 5 January, numbered from 1."""
    TherapySession = apps.get_model("therapy_sessions", "TherapySession")
    return [
        TherapySession.objects.create(
            client=client,
            therapist=client.primary_therapist,
            number=number,
            starts_at=at(1, 5) + dt.timedelta(weeks=number - 1),
            status=status,
        )
        for number, status in enumerate(statuses, start=1)
    ]


def flag(apps, session, rule, *, rater="client", scale="total", **workflow):
    return apps.get_model("alliance", "Flag").objects.create(
        client=session.client,
        session=session,
        rater=rater,
        scale=scale,
        rule=rule,
        magnitude=1.0,
        explanation=f"{rule} at session {session.number}",
        **workflow,
    )


def comment(apps, flag, author, text, created_at):
    FlagComment = apps.get_model("alliance", "FlagComment")
    made = FlagComment.objects.create(flag=flag, author=author, text=text)
    # created_at is auto_now_add: set the original time afterwards.
    FlagComment.objects.filter(pk=made.pk).update(created_at=created_at)


def history(apps, flag, user):
    """The row simple_history kept when the flag's workflow was last saved."""
    Flag = apps.get_model("alliance", "Flag")
    fields = {
        field.attname: getattr(flag, field.attname)
        for field in Flag._meta.concrete_fields
        if field.attname not in ("created_at", "updated_at")
    }
    apps.get_model("alliance", "HistoricalFlag").objects.create(
        **fields,
        history_date=flag.acknowledged_at or flag.resolved_at,
        history_type="~",
        history_user=user,
    )


def test_flags_workflow_moves_onto_their_episodes(before_episodes):
    apps = before_episodes
    Clinic = apps.get_model("alliance", "Clinic")
    User = apps.get_model("alliance", "User")
    Client = apps.get_model("alliance", "Client")
    clinic = Clinic.objects.create(name="Riverside Counselling", timezone="Europe/London")
    therapist = User.objects.create(username="therapist", clinic=clinic, is_therapist=True)
    colleague = User.objects.create(username="colleague", clinic=clinic, is_therapist=True)
    supervisor = User.objects.create(username="supervisor", clinic=clinic, is_supervisor=True)
    client = Client.objects.create(clinic=clinic, code="R-0001", primary_therapist=therapist)
    # Session 4 was cancelled: session 5 is the fourth held one.
    course = sessions_of(apps, client, *["completed"] * 3, "cancelled", "completed", "completed")
    s2, s5, s6 = course[1], course[4], course[5]
    repaired = {"repair_status": "repaired", "repaired_session": s6}
    # One event at session 5, three flags: acknowledged by a colleague first, then by the
    # therapist with the full record; the tension report resolved on its own.
    below = flag(
        apps,
        s5,
        "below_baseline",
        status="acknowledged",
        acknowledged_by=colleague,
        acknowledged_at=at(2, 3),
        action_note="Talked it through by phone.",
        action_session=s5,
        rupture_type="confrontation",
        **repaired,
    )
    drop = flag(
        apps,
        s5,
        "reliable_drop",
        status="acknowledged",
        acknowledged_by=therapist,
        acknowledged_at=at(2, 9, 15),
        action_note="Explored the tension together at session 6.",
        action_session=s6,
        rupture_type="withdrawal",
        repair_strategy="explore_together",
        **repaired,
    )
    tension = flag(
        apps,
        s5,
        "client_reported_tension",
        scale="tension",
        status="resolved",
        resolved_by=therapist,
        resolved_at=at(2, 4, 9),
    )
    comment(apps, drop, supervisor, "Bring this to supervision.", at(2, 5, 12))
    comment(apps, tension, therapist, "Settled on a call.", at(2, 4, 9))
    history(apps, below, colleague)
    history(apps, drop, therapist)
    # Session 2's flags, acknowledged together and later resolved together (the old
    # "whole session" buttons saved one flag after another, a few microseconds apart).
    together = [
        flag(
            apps,
            s2,
            rule,
            status="resolved",
            acknowledged_by=therapist,
            acknowledged_at=at(1, 13) + dt.timedelta(microseconds=300 * i),
            action_note="Named the misunderstanding at once.",
            resolved_by=colleague,
            resolved_at=at(1, 20) + dt.timedelta(microseconds=200 * i),
        )
        for i, rule in enumerate(("reliable_drop", "rater_discrepancy"))
    ]
    # A later drop on the therapist's side, never acted on.
    untouched = flag(apps, s6, "reliable_drop", rater="therapist")
    # Another client: a run below baseline at sessions 3 and 5, consecutive once the
    # cancelled session 4 is left out, is one dip.
    other = Client.objects.create(clinic=clinic, code="R-0002", primary_therapist=therapist)
    course = sessions_of(apps, other, *["completed"] * 3, "cancelled", "completed")
    b3, b5 = course[2], course[4]
    run = [flag(apps, b, "below_baseline", repair_status="pending") for b in (b3, b5)]

    migrate(before_episodes=False)

    from alliance.models import Episode, EpisodeComment, Flag

    episode = Episode.objects.get(client_id=client.pk, session_id=s5.pk)
    assert set(Flag.objects.filter(session_id=s5.pk).values_list("episode", flat=True)) == {
        episode.pk
    }
    assert episode.flags.count() == 3
    # Acknowledged (not every flag was resolved), with the latest acknowledgement's record.
    assert (episode.kind, episode.status, episode.last_session_id) == (
        "rupture",
        "acknowledged",
        s5.pk,
    )
    assert (episode.acknowledged_by_id, episode.acknowledged_at) == (therapist.pk, at(2, 9, 15))
    assert episode.action_note == "Explored the tension together at session 6."
    assert episode.action_session_id == s6.pk
    assert (episode.rupture_type, episode.repair_strategy) == ("withdrawal", "explore_together")
    assert (episode.resolved_by_id, episode.resolved_at) == (None, None)
    assert (episode.repair_status, episode.repaired_session_id) == ("repaired", s6.pk)
    # The colleague's acknowledgement, the resolution and both comments, by their authors at
    # their times.
    comments = list(episode.comments.order_by("created_at", "pk"))
    assert [(c.author_id, c.created_at) for c in comments] == [
        (colleague.pk, at(2, 3)),
        (therapist.pk, at(2, 4, 9)),
        (therapist.pk, at(2, 4, 9)),
        (supervisor.pk, at(2, 5, 12)),
    ]
    # With everything it recorded, not only the note.
    assert comments[0].text == (
        "Acknowledged (below baseline): Talked it through by phone. At session 5. "
        "Rupture type: Confrontation."
    )
    assert {c.text for c in comments[1:3]} == {
        "Resolved (client reported tension).",
        "Settled on a call.",
    }
    assert comments[3].text == "Bring this to supervision."
    # The flags' workflow history is the episode's.
    rows = list(episode.history.order_by("history_date"))
    assert [(row.history_date, row.history_user_id) for row in rows] == [
        (at(2, 3), colleague.pk),
        (at(2, 9, 15), therapist.pk),
    ]
    assert [row.action_note for row in rows] == [below.action_note, drop.action_note]
    assert all(row.status == "acknowledged" for row in rows)

    # An act on several flags at once is the episode's, recorded once.
    handled = Episode.objects.get(client_id=client.pk, session_id=s2.pk)
    assert set(handled.flags.values_list("pk", flat=True)) == {f.pk for f in together}
    assert (handled.status, handled.acknowledged_by_id, handled.resolved_by_id) == (
        "resolved",
        therapist.pk,
        colleague.pk,
    )
    assert handled.action_note == "Named the misunderstanding at once."
    assert not handled.comments.exists()

    # The flag left open is an open episode of its own.
    later = Flag.objects.get(pk=untouched.pk).episode
    assert later.pk != episode.pk
    assert (later.session_id, later.status, later.acknowledged_by_id) == (s6.pk, "open", None)
    assert not later.comments.exists() and not later.history.exists()

    # The run across the cancelled session is one open episode.
    dip = Episode.objects.get(client_id=other.pk)
    assert {Flag.objects.get(pk=f.pk).episode_id for f in run} == {dip.pk}
    assert (dip.session_id, dip.last_session_id, dip.status) == (b3.pk, b5.pk, "open")
    assert dip.repair_status == "pending"
    assert Episode.objects.count() == 4
    assert EpisodeComment.objects.count() == 4
