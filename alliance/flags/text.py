"""An episode in a clinician's words: its headline (one sentence, numbers on the scale's own
range) and its evidence (the rules that fired, each with the engine's exact explanation,
behind "How was this worked out?")."""

from dataclasses import dataclass

import pandas as pd
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from alliance.analytics import RULES
from alliance.dashboards import scale_range_for
from alliance.flags import selectors as flag_selectors
from alliance.flags.rules import rule_description, rule_label
from alliance.models import Client, Episode, Flag
from measures.models import Rater

# Drops whose "before" is the score of the session before; below_baseline's is the mean of
# the client's earlier scores, low_alliance has none.
ADJACENT_DROPS = tuple(rule.key for rule in RULES if rule.drop_type == "adjacent")
DROP_RULES = tuple(rule.key for rule in RULES if rule.drop_type in ("adjacent", "baseline"))
# The rules that flag a score, with low_alliance's "below the cutoff".
SCORE_RULES = tuple(rule.key for rule in RULES if rule.drop_type)

# What a scale measures, as the object of "rating of ...".
SCALE_WORDS = {
    "total": pgettext_lazy("rating of", "the alliance"),
    "bond": pgettext_lazy("rating of", "the bond"),
    "goal": pgettext_lazy("rating of", "agreement on goals"),
    "task": pgettext_lazy("rating of", "agreement on tasks"),
}

# (rater, repair status) -> the headline of a drop.
DROP_HEADLINES = {
    ("client", "unrepaired"): gettext_lazy(
        "The client's rating of %(what)s dropped from %(before)s to %(after)s at session "
        "%(number)s and has not come back."
    ),
    ("client", "repaired"): gettext_lazy(
        "The client's rating of %(what)s dropped from %(before)s to %(after)s at session "
        "%(number)s and came back at session %(back)s."
    ),
    ("client", "pending"): gettext_lazy(
        "The client's rating of %(what)s dropped from %(before)s to %(after)s at session "
        "%(number)s; the next sessions will show whether it comes back."
    ),
    ("therapist", "unrepaired"): gettext_lazy(
        "The therapist's rating of %(what)s dropped from %(before)s to %(after)s at session "
        "%(number)s and has not come back."
    ),
    ("therapist", "repaired"): gettext_lazy(
        "The therapist's rating of %(what)s dropped from %(before)s to %(after)s at session "
        "%(number)s and came back at session %(back)s."
    ),
    ("therapist", "pending"): gettext_lazy(
        "The therapist's rating of %(what)s dropped from %(before)s to %(after)s at session "
        "%(number)s; the next sessions will show whether it comes back."
    ),
}
LOW_HEADLINES = {
    "client": gettext_lazy(
        "The client rated %(what)s %(after)s at session %(number)s, below the cutoff your "
        "clinic set."
    ),
    "therapist": gettext_lazy(
        "The therapist rated %(what)s %(after)s at session %(number)s, below the cutoff your "
        "clinic set."
    ),
}


@dataclass(frozen=True)
class Evidence:
    """One rule that fired, for the "How was this worked out?" part of the episode page."""

    flag: Flag
    rule: str  # the rule's name in the clinician's words
    explanation: str  # the engine's sentence with every number
    description: str  # what the rule looks for and its source
    client_report: flag_selectors.ClientReport | None


def score_text(value: float, high: float) -> str:
    """A score on its scale's range: "2.0 of 5"."""
    return _("%(score)s of %(max)s") % {
        "score": number_format(value, 1),
        "max": number_format(high, 0 if float(high).is_integer() else 1),
    }


def episode_headline(episode: Episode) -> str:
    """The episode's headline (see ``episode_headlines``)."""
    return episode_headlines(episode.client, [episode])[episode.pk]


def episode_headlines(
    client: Client, episodes: list[Episode], *, frame: flag_selectors.ScoresFrame | None = None
) -> dict[int, str]:
    """One sentence per episode of this client, in the clinician's words and language, with
    the scores that matter on the scale's range ("dropped from 3.8 to 2.3 of 5 at session 8
    and has not come back"). Reads the episodes' prefetched ``evidence`` (active
    flags) and, when a drop needs its scores, the client's series (``frame`` if the caller
    has read it: ``flag_selectors.client_scores_frame``; else one query)."""
    if frame is None and any(_lead_drop(episode) for episode in episodes):
        frame = flag_selectors.client_scores_frame(client)
    high = scale_range_for(client.clinic)[1]
    return {episode.pk: _headline(episode, frame, high) for episode in episodes}


def _lead_drop(episode: Episode) -> Flag | None:
    """The drop the headline tells: the client's before the therapist's, the total first."""
    drops = [f for f in episode.evidence if f.rule in SCORE_RULES]
    drops.sort(
        key=lambda f: (f.rater != Rater.CLIENT, f.scale != "total", f.rule not in DROP_RULES)
    )
    return drops[0] if drops else None


def _headline(episode: Episode, frame, high: float) -> str:
    rules = {flag.rule for flag in episode.evidence}
    number = episode.session.number
    if episode.kind == Episode.Kind.CEILING:
        return _(
            "The client has given every item the top score from the first sessions up to "
            "session %(number)s: invite honest feedback."
        ) % {"number": number}
    if episode.kind == Episode.Kind.MISSING_FORMS:
        return _("No client form at the last held sessions, up to session %(number)s.") % {
            "number": episode.last_session.number
        }
    parts = []
    lead = _lead_drop(episode)
    if lead is not None:
        parts.append(_drop_sentence(episode, lead, frame, high))
    if "client_reported_tension" in rules:
        parts.append(
            (
                _("The client also said there was tension or a misunderstanding.")
                if parts
                else _(
                    "The client said there was tension or a misunderstanding at session %(number)s."
                )
            )
            % {"number": number}
        )
    if "rater_discrepancy" in rules and not parts:
        parts.append(
            _(
                "At session %(number)s the client and the therapist saw the alliance "
                "differently: the therapist rated it clearly higher."
            )
            % {"number": number}
        )
    elif "rater_discrepancy" in rules:
        parts.append(_("The therapist rated the alliance clearly higher than the client did."))
    return " ".join(str(part) for part in parts)


def _drop_sentence(episode: Episode, flag: Flag, frame, high: float) -> str:
    values = _series_values(frame, episode.client_id, flag)
    words = {
        "what": SCALE_WORDS.get(flag.scale, flag.scale),
        "number": flag.session.number,
        "after": score_text(values[1], high) if values[1] is not None else "—",
    }
    if flag.rule == "low_alliance":
        return LOW_HEADLINES[flag.rater] % words
    status = episode.repair_status or Episode.RepairStatus.PENDING
    words["before"] = number_format(values[0], 1) if values[0] is not None else "—"
    words["back"] = episode.repaired_session.number if episode.repaired_session else ""
    return DROP_HEADLINES[(flag.rater, status)] % words


def _series_values(frame, client_id: int, flag: Flag) -> tuple[float | None, float | None]:
    """(before, at) for the flag's series: the score of the session before (adjacent drops)
    or the mean of the earlier scores (below baseline), and the score at the flag."""
    if frame is None:
        return None, None
    scores = frame.scores
    series = scores[
        (scores["client"] == client_id)
        & (scores["rater"] == flag.rater)
        & (scores["scale"] == flag.scale)
    ].set_index("session")["score"]
    position = next(
        (p for (c, p), s in frame.session_ids.items() if c == client_id and s == flag.session_id),
        None,
    )
    if position is None or position not in series.index:
        return None, None
    at = _value(series.get(position))
    if flag.rule == "below_baseline":
        before = _value(series[series.index < position].mean())
    else:
        before = _value(series.get(position - 1))
    return before, at


def _value(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def episode_evidence(episode: Episode, *, language: str) -> list[Evidence]:
    """The episode's active flags in reading order, each with its rule's name, the engine's
    explanation and, for a tension report, the client's own words."""
    return [
        Evidence(
            flag=flag,
            rule=str(rule_label(flag.rule)),
            explanation=flag.explanation,
            description=str(rule_description(flag.rule)),
            client_report=flag_selectors.flag_client_report(flag, language=language),
        )
        for flag in episode.evidence
    ]


@dataclass(frozen=True)
class EpisodeRow:
    """An episode as the client page lists it."""

    episode: Episode
    headline: str


def client_episode_rows(
    user, client: Client, *, frame: flag_selectors.ScoresFrame | None = None
) -> list[EpisodeRow]:
    """The client page's episodes (``flag_selectors.client_episodes``) with their headlines
    (from the client's scores ``frame`` when the caller has read it)."""
    episodes = list(flag_selectors.client_episodes(user, client))
    headlines = episode_headlines(client, episodes, frame=frame)
    return [EpisodeRow(episode, headlines[episode.pk]) for episode in episodes]
