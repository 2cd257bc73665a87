"""The alert burden of a clinic, measured (docs/ruptures.md, "Alert burden").

A list that is too long is ignored, and then the real rupture is missed too. These figures
say how much a clinic's clinicians are asked to look at: episodes per 100 held sessions,
the share of active clients on the "need a look" list (``dashboards.risk_assess``), the
actionable episodes per therapist and the flags per episode. Pure counting after four
queries; ``manage.py alert_burden`` prints them.
"""

import statistics
from dataclasses import dataclass, field

from alliance import dashboards
from alliance.clients import selectors as client_selectors
from alliance.models import Client, Clinic, Episode, Flag
from sessions.models import TherapySession


@dataclass
class AlertBurden:
    clinic: str
    held_sessions: int
    flags: int  # active flags
    episodes: int  # active episodes
    active_clients: int
    listed_clients: int  # active clients needing a look (risk tier above FINE)
    # Therapist (name) -> actionable episodes of their active primary clients: open ones, and
    # unrepaired or pending ruptures, acknowledged or not (what keeps a client on the list).
    actionable: dict[str, int] = field(default_factory=dict)
    open_episodes: int = 0  # active, not yet acknowledged

    @property
    def episodes_per_100_sessions(self) -> float | None:
        return 100 * self.episodes / self.held_sessions if self.held_sessions else None

    @property
    def listed_share(self) -> float | None:
        return self.listed_clients / self.active_clients if self.active_clients else None

    @property
    def flags_per_episode(self) -> float | None:
        return self.flags / self.episodes if self.episodes else None

    @property
    def actionable_range(self) -> tuple[int, int, float] | None:
        """(min, max, mean) actionable episodes per therapist."""
        counts = list(self.actionable.values())
        if not counts:
            return None
        return min(counts), max(counts), statistics.mean(counts)


def alert_burden(clinic: Clinic, *, as_if_unacknowledged: bool = False) -> AlertBurden:
    """The clinic's alert burden now. ``as_if_unacknowledged``: as if no episode had been
    acknowledged or resolved yet (every active episode open), the state of a clinic whose
    flags nobody has handled, to compare with one where every flag was an item."""
    clients = Client.objects.filter(clinic=clinic).active()
    since_form = dict(
        client_selectors.annotate_sessions_since_client_form(clients).values_list(
            "pk", "sessions_since_client_form"
        )
    )
    therapists = {
        pk: str(therapist)
        for pk, therapist in (
            (c.pk, c.primary_therapist)
            for c in clients.select_related("primary_therapist").order_by()
        )
    }
    episodes = Episode.objects.active().filter(client__clinic=clinic)
    if as_if_unacknowledged:
        facts = dashboards.episode_facts(clients=clients, resolved=True)
        facts = {
            client_id: [e._replace(status=Episode.Status.OPEN) for e in found]
            for client_id, found in facts.items()
        }
    else:
        facts = dashboards.episode_facts(clients=clients)
    missing_after = dashboards.missing_forms_after(clinic)
    listed = 0
    actionable = dict.fromkeys(sorted(set(therapists.values())), 0)
    for client_id, therapist in therapists.items():
        found = facts.get(client_id, [])
        risk = dashboards.risk_assess(
            found, sessions_since_form=since_form.get(client_id, 0), missing_after=missing_after
        )
        listed += dashboards.needs_a_look(risk)
        actionable[therapist] += sum(dashboards.is_actionable(e) for e in found)
    return AlertBurden(
        clinic=clinic.name,
        held_sessions=TherapySession.objects.completed().filter(client__clinic=clinic).count(),
        flags=Flag.objects.active().filter(client__clinic=clinic, episode__in=episodes).count(),
        episodes=episodes.count(),
        active_clients=len(therapists),
        listed_clients=listed,
        actionable=actionable,
        open_episodes=sum(e.is_open for found in facts.values() for e in found),
    )
