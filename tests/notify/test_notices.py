"""Notices made by the flag refresh: one per rupture event, for the client's therapist, only
for news (not a clinic-wide recomputation or an import), never failing the rating."""

import logging

import pytest

from alliance.flags import services as flag_services
from alliance.models import AccessEvent, Episode, Notice, PendingFlagRefresh
from alliance.notify.services import notices_create_for_episodes
from measures.services import rating_record
from tests.factories import ClientFactory, EpisodeFactory
from tests.flags.helpers import answers_for, course, next_session

pytestmark = pytest.mark.django_db

DROP = [4.5, 4.5, 4.5, 3.0]  # a reliable drop at session 4: a rupture episode


def rate(client, instruments, total):
    """A new held session rated by the client, and the refresh a form's caller runs."""
    session = next_session(client)
    rating_record(session=session, instrument=instruments["client"], answers=answers_for(total))
    return flag_services.flags_refresh_or_defer(client=client)


def test_a_rupture_opening_makes_one_notice_for_the_therapist_however_often_refreshed(
    client_of_therapist, therapist, instruments
):
    course(client_of_therapist, instruments, client_totals=DROP)
    first = flag_services.flags_refresh_or_defer(client=client_of_therapist)
    flag_services.flags_refresh_or_defer(client=client_of_therapist)
    flag_services.flags_refresh_pending()  # a retry finds nothing new either

    episode = Episode.objects.get(client=client_of_therapist, kind=Episode.Kind.RUPTURE)
    assert first.opened == [episode.pk]
    notice = Notice.objects.get()
    assert (notice.recipient, notice.kind, notice.episode, notice.client) == (
        therapist,
        Notice.Kind.EPISODE_OPENED,
        episode,
        client_of_therapist,
    )
    assert notice.read_at is None and notice.emailed_at is None


def test_an_episode_turning_unrepaired_makes_one_more_notice(client_of_therapist, instruments):
    course(client_of_therapist, instruments, client_totals=DROP)
    flag_services.flags_refresh_or_defer(client=client_of_therapist)
    episode = Episode.objects.get(client=client_of_therapist, kind=Episode.Kind.RUPTURE)
    assert episode.repair_status == Episode.RepairStatus.PENDING

    results = [rate(client_of_therapist, instruments, 3.0) for _ in range(3)]
    flag_services.flags_refresh_or_defer(client=client_of_therapist)

    episode.refresh_from_db()
    assert episode.repair_status == Episode.RepairStatus.UNREPAIRED
    assert [result.unrepaired for result in results] == [[], [], [episode.pk]]
    assert sorted(Notice.objects.values_list("kind", "episode")) == [
        (Notice.Kind.EPISODE_OPENED, episode.pk),
        (Notice.Kind.EPISODE_UNREPAIRED, episode.pk),
    ]


def test_a_repaired_rupture_makes_no_unrepaired_notice(client_of_therapist, instruments):
    course(client_of_therapist, instruments, client_totals=DROP)
    flag_services.flags_refresh_or_defer(client=client_of_therapist)
    for _ in range(3):
        rate(client_of_therapist, instruments, 4.5)
    episode = Episode.objects.get(client=client_of_therapist, kind=Episode.Kind.RUPTURE)
    assert episode.repair_status == Episode.RepairStatus.REPAIRED
    assert list(Notice.objects.values_list("kind", flat=True)) == [Notice.Kind.EPISODE_OPENED]


def test_a_resolved_episode_turning_unrepaired_is_no_news(
    client_of_therapist, therapist, instruments
):
    course(client_of_therapist, instruments, client_totals=DROP)
    flag_services.flags_refresh_or_defer(client=client_of_therapist)
    episode = Episode.objects.get(client=client_of_therapist, kind=Episode.Kind.RUPTURE)
    flag_services.episode_resolve(episode=episode, user=therapist)
    for _ in range(3):
        rate(client_of_therapist, instruments, 3.0)
    episode.refresh_from_db()
    assert episode.repair_status == Episode.RepairStatus.UNREPAIRED
    assert Notice.objects.filter(kind=Notice.Kind.EPISODE_UNREPAIRED).count() == 0


def test_a_clinic_recomputation_rederives_episodes_without_a_flood_of_notices(
    client_of_therapist, clinic, clinic_admin, instruments
):
    """A rule switched on (or the command, the seed and benchmark data) finds the past
    again: no notice. A later rating tells only what it changes."""
    course(client_of_therapist, instruments, client_totals=DROP, tension=[2])
    flag_services.flags_refresh_for_clinic(clinic=clinic)
    assert Episode.objects.filter(client=client_of_therapist).count() >= 2
    flag_services.clinic_rule_settings_update(
        clinic=clinic, user=clinic_admin, rule_settings={"below_baseline": {"k": 1}}
    )
    flag_services.flags_refresh_for_clinic(clinic=clinic)  # what the settings page's job runs
    assert Notice.objects.count() == 0

    rate(client_of_therapist, instruments, 3.0)  # the drop's episode already exists
    assert Notice.objects.count() == 0


def test_missing_forms_and_ceiling_episodes_make_no_notice(client_of_therapist, instruments):
    course(client_of_therapist, instruments, client_totals=[5, 5, 5, None, None, None])
    result = flag_services.flags_refresh_or_defer(client=client_of_therapist)
    kinds = set(Episode.objects.values_list("kind", flat=True))
    assert {Episode.Kind.CEILING, Episode.Kind.MISSING_FORMS} <= kinds
    assert result.opened == [] and Notice.objects.count() == 0


def test_an_import_of_past_ratings_makes_no_notice(client_of_therapist, instruments):
    course(client_of_therapist, instruments, client_totals=DROP)
    result = flag_services.flags_refresh_or_defer(client=client_of_therapist, notify=False)
    assert result.opened and Notice.objects.count() == 0


def test_nobody_is_told_when_the_primary_therapist_is_inactive(client_of_therapist, instruments):
    therapist = client_of_therapist.primary_therapist
    therapist.is_active = False
    therapist.save(update_fields=["is_active"])
    course(client_of_therapist, instruments, client_totals=DROP)
    assert flag_services.flags_refresh_or_defer(client=client_of_therapist).opened
    assert Notice.objects.count() == 0


def test_a_notice_that_cannot_be_made_never_fails_the_rating_or_its_flags(
    client_of_therapist, instruments, monkeypatch, caplog
):
    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(Notice.objects, "bulk_create", broken)
    course(client_of_therapist, instruments, client_totals=DROP)
    with caplog.at_level(logging.ERROR):
        result = flag_services.flags_refresh_or_defer(client=client_of_therapist)
    assert result is not None and result.opened
    assert Episode.objects.filter(client=client_of_therapist, kind="rupture").exists()
    assert not PendingFlagRefresh.objects.exists()
    assert Notice.objects.count() == 0
    assert not AccessEvent.objects.filter(object_type="episode_notice").exists()
    assert "Notices for episodes" in caplog.text


def test_making_notices_takes_a_fixed_number_of_queries(
    therapist, instruments, django_assert_num_queries
):
    episodes = [
        EpisodeFactory(session__client=ClientFactory(primary_therapist=therapist)) for _ in range(2)
    ]
    # The episodes with their therapists, the insert, the audit events, in a savepoint.
    with django_assert_num_queries(5):
        made = notices_create_for_episodes(
            opened=[episodes[0].pk], unrepaired=[episodes[1].pk, episodes[0].pk]
        )
    assert made == 3 and Notice.objects.count() == 3
    assert AccessEvent.objects.filter(object_type="episode_notice").count() == 3


def test_each_notice_made_is_audited_once_with_the_therapist_told(
    client_of_therapist, therapist, instruments
):
    course(client_of_therapist, instruments, client_totals=DROP)
    flag_services.flags_refresh_or_defer(client=client_of_therapist)
    episode = Episode.objects.get(client=client_of_therapist, kind=Episode.Kind.RUPTURE)
    # Run again (a retry, the events asked for twice): no second notice, no second event.
    assert notices_create_for_episodes(opened=[episode.pk], unrepaired=[]) == 0

    [event] = AccessEvent.objects.filter(object_type="episode_notice")
    assert (event.action, event.user, event.username, event.roles) == (
        AccessEvent.Action.CREATE,
        therapist,
        "alerts",
        "system",
    )
    assert (event.object_id, event.client_id, event.clinic_id) == (
        episode.pk,
        client_of_therapist.pk,
        client_of_therapist.clinic_id,
    )
