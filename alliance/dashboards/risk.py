"""The risk ranking, without the database: one client's tier and reasons from the facts of
their episodes (docs/dashboards.md, "Risk ranking")."""

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from alliance.models import Episode


class RiskTier:
    """Most in need of a look first (docs/dashboards.md, "Risk ranking"). A client is on the
    "need a look" list when their tier is above OLDER: an older open flag is not actionable
    now, but it is not "No concerns" either."""

    UNREPAIRED = 0
    PENDING = 1
    LOW = 2
    SIGNAL = 3
    MISSING_FORMS = 4
    OLDER = 5
    FINE = 6

    LABELS = (
        gettext_noop("Unrepaired rupture"),
        gettext_noop("Rupture, repair pending"),
        gettext_noop("Low alliance"),
        gettext_noop("Signal to look at"),
        gettext_noop("Client forms missing"),
        gettext_noop("Older open flag"),
        gettext_noop("No concerns"),
    )

    @staticmethod
    def label(tier: int) -> str:
        return _(RiskTier.LABELS[tier])


@dataclass
class Risk:
    tier: int
    # Each reason's text is made (translated) when the reasons are first read: a queue
    # ranks thousands of clients and shows a hundred.
    texts: list[Callable[[], str]] = field(default_factory=list)
    episode_id: int | None = None  # the episode behind the first reason, for a link

    @functools.cached_property
    def reasons(self) -> list[str]:
        return [text() for text in self.texts]

    @property
    def reason(self) -> str:
        return self.reasons[0] if self.reasons else ""

    @property
    def label(self) -> str:
        return RiskTier.label(self.tier)

    @property
    def css(self) -> str:
        return ["unrepaired", "pending", "low", "signal", "missing", "older", "fine"][self.tier]


class EpisodeFact(NamedTuple):
    """What the ranking reads of one active, unresolved episode (a tuple: the ranking reads
    thousands)."""

    id: int
    kind: str
    status: str
    repair_status: str
    session: int  # the number of the session where it began
    rules: frozenset[str]  # the rules of its active flags
    # Its last session is one of the client's last RECENT_SESSIONS held sessions.
    recent: bool = True

    @property
    def is_open(self) -> bool:
        return self.status == Episode.Status.OPEN


def _latest(episodes: list[EpisodeFact]) -> EpisodeFact:
    return max(episodes, key=lambda e: (e.session, e.id))


# Translated when used: the ranking assesses every client of a queue (thousands).
SIGNAL_TEXT = {
    "client_reported_tension": gettext_noop("Client reported tension at session %(number)d"),
    "rater_discrepancy": gettext_noop(
        "Therapist rated higher than the client at session %(number)d"
    ),
    Episode.Kind.CEILING: gettext_noop(
        "Ratings at the scale maximum from session %(number)d: invite feedback"
    ),
    Episode.Kind.MISSING_FORMS: gettext_noop("Client forms missing from session %(number)d"),
    "repaired": gettext_noop("Repaired drop at session %(number)d"),
    "other": gettext_noop("Open flag at session %(number)d"),
    "older": gettext_noop("Open flag at session %(number)d, not acknowledged"),
}


def risk_assess(
    episodes: list[EpisodeFact], *, sessions_since_form: int, missing_after: int
) -> Risk:
    """One client's risk tier and the reasons for it, most serious first.

    ``episodes``: the client's active episodes that are not resolved. A client needs a look
    (a tier above FINE) only when something is actionable now:

    - Unrepaired > pending: a rupture episode (a drop of either rater, on any scale) whose
      repair status is unrepaired or pending, acknowledged or not (the score has not come
      back).
    - Low alliance: a new open (unacknowledged) episode with a low_alliance flag.
    - Signal: any other new open episode: a tension report, the raters' disagreement, a drop
      since repaired but not yet acknowledged; and an open ceiling run, however old. "New":
      the episode reaches into the client's last RECENT_SESSIONS held sessions.
    - Missing forms: at least ``missing_after`` completed sessions since the last client
      form, or a new open missing-forms episode.
    - Older (off the list): an open episode that is not new; the sessions since have
      answered it, and it waits on the client's page to be acknowledged.

    An acknowledged episode without an unrepaired or pending drop (a tension report, a
    repaired drop) keeps nobody on the list; a repaired one is mentioned under FINE. Every
    open episode puts the client above FINE, so "No concerns" never stands beside an open
    flag.
    """
    reasons: list[tuple[int, Callable[[], str], int | None]] = []
    ruptures = [e for e in episodes if e.kind == Episode.Kind.RUPTURE]
    unrepaired = [e for e in ruptures if e.repair_status == Episode.RepairStatus.UNREPAIRED]
    pending = [e for e in ruptures if e.repair_status == Episode.RepairStatus.PENDING]
    if unrepaired:
        episode = _latest(unrepaired)
        acknowledged = not any(e.is_open for e in unrepaired)
        reasons.append(
            (
                RiskTier.UNREPAIRED,
                functools.partial(_unrepaired_text, episode.session, acknowledged),
                episode.id,
            )
        )
    if pending:
        episode = _latest(pending)
        message = gettext_noop("Drop at session %(number)d, repair pending")
        reasons.append((RiskTier.PENDING, _text(message, episode), episode.id))
    low = [e for e in ruptures if e.is_open and e.recent and "low_alliance" in e.rules]
    if low:
        episode = _latest(low)
        message = gettext_noop("Low alliance at session %(number)d")
        reasons.append((RiskTier.LOW, _text(message, episode), episode.id))
    signals = [
        e
        for e in episodes
        if e.is_open
        and (e.recent or e.kind == Episode.Kind.CEILING)
        and e.kind != Episode.Kind.MISSING_FORMS
        and e not in low
        and e.repair_status not in (Episode.RepairStatus.UNREPAIRED, Episode.RepairStatus.PENDING)
    ]
    if signals:
        episode = _latest(signals)
        reasons.append(
            (RiskTier.SIGNAL, _text(SIGNAL_TEXT[_signal_of(episode)], episode), episode.id)
        )
    older = [e for e in episodes if e.is_open and not is_actionable(e)]
    if older:
        episode = _latest(older)
        reasons.append((RiskTier.OLDER, _text(SIGNAL_TEXT["older"], episode), episode.id))
    missing = [
        e for e in episodes if e.is_open and e.recent and e.kind == Episode.Kind.MISSING_FORMS
    ]
    if sessions_since_form >= missing_after:
        reasons.append(
            (
                RiskTier.MISSING_FORMS,
                functools.partial(_missing_forms_text, sessions_since_form),
                _latest(missing).id if missing else None,
            )
        )
    elif missing:
        episode = _latest(missing)
        reasons.append(
            (RiskTier.MISSING_FORMS, _text(SIGNAL_TEXT[episode.kind], episode), episode.id)
        )
    repaired = [
        e for e in ruptures if e.repair_status == Episode.RepairStatus.REPAIRED and not e.is_open
    ]
    if repaired:
        episode = _latest(repaired)
        reasons.append((RiskTier.FINE, _text(SIGNAL_TEXT["repaired"], episode), episode.id))
    if not reasons:
        return Risk(tier=RiskTier.FINE)
    reasons.sort(key=lambda reason: reason[0])
    return Risk(
        tier=reasons[0][0], texts=[text for _t, text, _e in reasons], episode_id=reasons[0][2]
    )


def _signal_of(episode: EpisodeFact) -> str:
    """The key of SIGNAL_TEXT that says what an open episode without a drop to repair is."""
    if episode.kind != Episode.Kind.RUPTURE:
        return episode.kind if episode.kind in SIGNAL_TEXT else "other"
    if episode.repair_status == Episode.RepairStatus.REPAIRED:
        return "repaired"
    for rule in ("client_reported_tension", "rater_discrepancy"):
        if rule in episode.rules:
            return rule
    return "other"


def needs_a_look(risk: Risk) -> bool:
    return risk.tier < RiskTier.OLDER


def is_actionable(episode: EpisodeFact) -> bool:
    """An episode that keeps its client on the list: new and open (an open ceiling run
    however old), or an unrepaired or pending rupture (acknowledged or not)."""
    new = episode.recent or episode.kind == Episode.Kind.CEILING
    return (episode.is_open and new) or (
        episode.kind == Episode.Kind.RUPTURE
        and episode.repair_status in (Episode.RepairStatus.UNREPAIRED, Episode.RepairStatus.PENDING)
    )


def _text(message: str, episode: EpisodeFact) -> Callable[[], str]:
    """The translated ``message`` (marked with gettext_noop) with the episode's session
    number, when called."""
    return functools.partial(_session_text, message, episode.session)


def _session_text(message: str, number: int) -> str:
    return _(message) % {"number": number}


def _unrepaired_text(number: int, acknowledged: bool) -> str:
    text = _("Unrepaired drop at session %(number)d") % {"number": number}
    return f"{text} {_('(acknowledged)')}" if acknowledged else text


def _missing_forms_text(count: int) -> str:
    return ngettext(
        "No client form for the last %(count)d session",
        "No client form for the last %(count)d sessions",
        count,
    ) % {"count": count}
