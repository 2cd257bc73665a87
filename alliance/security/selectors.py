"""Reads for the clinic admin's security pages: the audit log and a client's history."""

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils import timezone

from alliance.models import AccessEvent, Client, Episode, User
from measures.models import RatingChange
from sessions.models import TherapySession

# A client's page lists this many of the latest accesses and changes; the audit log has all.
CLIENT_PAGE_LIMIT = 200


def audit_events(admin: User) -> QuerySet[AccessEvent]:
    """The events a clinic admin may read: their clinic's people's, and any about their
    clinic's clients (an outsider's denied attempt too). None for anyone else."""
    if not (admin.is_active and admin.is_clinic_admin and admin.clinic_id):
        return AccessEvent.objects.none()
    clients = Client.objects.filter(clinic_id=admin.clinic_id).values("pk")
    return AccessEvent.objects.filter(Q(clinic_id=admin.clinic_id) | Q(client_id__in=clients))


def audit_events_filtered(
    admin: User,
    *,
    user: User | None = None,
    client: str = "",
    action: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[AccessEvent]:
    """The admin's events narrowed by person, client (code, or id for a purged client),
    action and dates (whole days in the clinic's timezone, both ends included)."""
    events = audit_events(admin).select_related("user")
    if user is not None:
        events = events.filter(user=user)
    client = client.strip()
    if client:
        if client.isdigit():
            events = events.filter(client_id=int(client))
        else:
            ids = Client.objects.filter(clinic_id=admin.clinic_id, code__iexact=client).values("pk")
            events = events.filter(client_id__in=ids)
    if action:
        events = events.filter(action=action)
    tz = admin.clinic.tzinfo
    if date_from is not None:
        events = events.filter(at__gte=dt.datetime.combine(date_from, dt.time.min, tz))
    if date_to is not None:
        next_day = date_to + dt.timedelta(days=1)
        events = events.filter(at__lt=dt.datetime.combine(next_day, dt.time.min, tz))
    return events.order_by("-at", "-pk")


@dataclass
class Change:
    """One change of a clinical record, for a page: what, who, when, and old -> new."""

    at: dt.datetime
    who: str
    what: str
    kind: str  # "created", "changed", "deleted"
    fields: list[tuple[str, str, str]] = field(default_factory=list)


KINDS = {"+": "created", "~": "changed", "-": "deleted"}


def _shown(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


def _history_changes(records, label) -> list[Change]:
    """Changes from django-simple-history rows, diffed in Python (no query per row)."""
    changes = []
    previous = {}
    for record in sorted(records, key=lambda r: (r.history_date, r.history_id)):
        before = previous.get(record.id)
        fields = []
        for model_field in record.tracked_fields:
            name = model_field.attname
            new = getattr(record, name)
            if before is None:
                continue
            old = getattr(before, name)
            if old != new:
                fields.append((model_field.verbose_name, _shown(old), _shown(new)))
        previous[record.id] = record
        if record.history_type == "~" and not fields:
            continue  # saved without a change
        who = record.history_user.get_username() if record.history_user else "—"
        changes.append(
            Change(
                at=record.history_date,
                who=who,
                what=label(record),
                kind=KINDS[record.history_type],
                fields=fields,
            )
        )
    return changes


def client_changes(client: Client) -> list[Change]:
    """Who changed what in the client's record, sessions, episodes and ratings; newest first."""
    changes = _history_changes(
        client.history.select_related("history_user"), lambda record: f"Client {record.code}"
    )
    changes += _history_changes(
        TherapySession.history.filter(client_id=client.pk).select_related("history_user"),
        lambda record: f"Session {record.number}",
    )
    changes += _history_changes(
        Episode.history.filter(client_id=client.pk).select_related("history_user"),
        lambda record: f"Episode {record.id} ({record.get_kind_display()})",
    )
    for change in RatingChange.objects.filter(rating__session__client=client).select_related(
        "changed_by", "rating__session"
    ):
        keys = sorted(set(change.old_answers) | set(change.new_answers))
        changes.append(
            Change(
                at=change.changed_at,
                who=change.changed_by.get_username(),
                what=f"Therapist rating of session {change.rating.session.number}",
                kind=KINDS["~"],
                fields=[
                    (key, _shown(change.old_answers.get(key)), _shown(change.new_answers.get(key)))
                    for key in keys
                    if change.old_answers.get(key) != change.new_answers.get(key)
                ],
            )
        )
    changes.sort(key=lambda change: change.at, reverse=True)
    return changes[:CLIENT_PAGE_LIMIT]
