"""Rupture episodes (alliance.analytics.episodes): one item per event, without a database."""

import pandas as pd

from alliance.analytics import detect
from alliance.analytics.episodes import group_episodes
from tests.analytics.builders import COLUMNS, norms

FLAG_COLUMNS = ["client", "rater", "scale", "session", "rule", "repair_status", "repaired_session"]


def flags(*rows):
    return pd.DataFrame(list(rows), columns=FLAG_COLUMNS)


def drop(session, rule="reliable_drop", *, rater="client", client="A", repair="pending", at=None):
    return (client, rater, "total", session, rule, repair, at)


def signal(session, rule, *, client="A", rater="client"):
    scale = "tension" if rule == "client_reported_tension" else "total"
    return (client, rater, scale, session, rule, None, None)


def grouped(frame):
    episode_of, episodes = group_episodes(frame)
    return list(episode_of), episodes


def test_one_drop_firing_five_rules_is_one_episode():
    frame = flags(
        drop(8, "below_baseline"),
        drop(8, "reliable_drop"),
        drop(8, "sudden_loss"),
        signal(8, "client_reported_tension"),
        signal(8, "rater_discrepancy", rater="therapist"),
    )
    episode_of, episodes = grouped(frame)
    assert episode_of == [0] * 5
    (episode,) = episodes.itertuples()
    assert (episode.kind, episode.session, episode.last_session) == ("rupture", 8, 8)
    assert episode.rules == (
        "below_baseline",
        "client_reported_tension",
        "rater_discrepancy",
        "reliable_drop",
        "sudden_loss",
    )
    assert episode.repair_status == "pending"


def test_drops_of_both_raters_at_one_session_are_one_episode():
    episode_of, episodes = grouped(flags(drop(5), drop(5, rater="therapist")))
    assert episode_of == [0, 0] and len(episodes) == 1


def test_a_tension_report_and_a_disagreement_alone_are_one_episode_without_repair():
    frame = flags(signal(3, "client_reported_tension"), signal(3, "rater_discrepancy"))
    episode_of, episodes = grouped(frame)
    assert episode_of == [0, 0]
    assert episodes.repair_status.tolist() == [None]


def test_a_below_baseline_run_continues_its_dip():
    frame = flags(
        drop(6, "reliable_drop"),
        drop(6, "below_baseline", repair="unrepaired"),
        drop(7, "below_baseline", repair="unrepaired"),
        drop(8, "below_baseline", repair="pending"),
    )
    episode_of, episodes = grouped(frame)
    assert episode_of == [0, 0, 0, 0]
    (episode,) = episodes.itertuples()
    assert (episode.session, episode.last_session, episode.repair_status) == (6, 8, "unrepaired")


def test_a_lasting_disagreement_is_one_episode():
    frame = flags(*(signal(s, "rater_discrepancy") for s in (10, 11, 12)))
    episode_of, episodes = grouped(frame)
    assert episode_of == [0, 0, 0]
    assert (episodes.session[0], episodes.last_session[0]) == (10, 12)


def test_no_repair_is_none_not_a_number():
    frame = flags(signal(4, "rater_discrepancy"), drop(5, repair="unrepaired"))
    assert grouped(frame)[1].repair_status.tolist() == [None, "unrepaired"]


def test_a_gap_in_the_run_begins_a_new_episode():
    frame = flags(drop(6, "below_baseline"), drop(8, "below_baseline"))
    assert grouped(frame)[0] == [0, 1]


def test_a_new_drop_inside_a_run_is_a_new_episode_and_the_run_stays_with_its_dip():
    frame = flags(
        drop(6, "below_baseline"),
        drop(7, "below_baseline"),
        drop(7, "reliable_drop"),
        signal(7, "client_reported_tension"),
    )
    episode_of, episodes = grouped(frame)
    assert episode_of == [0, 0, 1, 1]
    assert episodes.session.tolist() == [6, 7]


def test_a_run_continues_only_on_its_own_rater_and_scale():
    frame = flags(drop(6, "below_baseline"), drop(7, "below_baseline", rater="therapist"))
    assert grouped(frame)[0] == [0, 1]


def test_ceiling_and_missing_forms_are_episodes_of_their_own():
    frame = flags(
        signal(3, "ceiling"),
        signal(3, "client_reported_tension"),
        signal(9, "missing_forms"),
    )
    episode_of, episodes = grouped(frame)
    assert episode_of == [0, 1, 2]
    assert episodes.kind.tolist() == ["ceiling", "rupture", "missing_forms"]


def test_clients_never_share_an_episode():
    episode_of, episodes = grouped(flags(drop(4, client="A"), drop(4, client="B")))
    assert episode_of == [0, 1]
    assert episodes.client.tolist() == ["A", "B"]


def test_repair_is_the_episodes_all_repaired_at_the_latest():
    both = flags(drop(4, repair="repaired", at=5), drop(4, "sudden_loss", repair="repaired", at=6))
    assert grouped(both)[1][["repair_status", "repaired_session"]].values.tolist() == [
        ["repaired", 6]
    ]
    mixed = flags(drop(4, repair="repaired", at=5), drop(4, "sudden_loss", repair="pending"))
    assert grouped(mixed)[1].repair_status.tolist() == ["pending"]


def test_the_episode_index_follows_the_flags_order_whatever_it_is():
    frame = flags(drop(9, client="B"), drop(2, client="A"), drop(9, client="A"))
    episode_of, episodes = grouped(frame)
    assert [episodes.client[i] for i in episode_of] == ["B", "A", "A"]
    assert [episodes.session[i] for i in episode_of] == [9, 2, 9]


def test_no_flags_no_episodes():
    episode_of, episodes = grouped(flags())
    assert episode_of == [] and episodes.empty
    assert list(episodes.columns) == [
        "client",
        "kind",
        "session",
        "last_session",
        "rules",
        "repair_status",
        "repaired_session",
    ]


def test_detects_output_groups_as_is():
    # A client whose total falls at session 5 and stays down: several rules, one episode.
    rows = [("A", "client", "total", s, v) for s, v in enumerate([4.6, 4.5, 4.6, 4.5, 2.5, 2.5], 1)]
    found = detect(pd.DataFrame(rows, columns=COLUMNS), {"norms": norms()})
    assert len(found) > 1
    episode_of, episodes = group_episodes(found)
    assert len(episodes) == 1 and set(episode_of) == {0}
