"""purge_expired removes discharged clients past their clinic's retention period with
everything about them, one transaction per client, and nothing else."""

import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from alliance.models import (
    AccessEvent,
    Client,
    ClientTransfer,
    Episode,
    EpisodeComment,
    Flag,
)
from alliance.security import services
from measures.models import ItemAnswer, Rating, RatingChange, ScaleScore
from measures.services import rating_update
from sessions.formlinks import formlink_create
from sessions.models import FormLink, TherapySession
from tests.factories import (
    ClientFactory,
    ClinicFactory,
    TherapistFactory,
    TherapySessionFactory,
    rating_of,
)

pytestmark = pytest.mark.django_db

ANSWERS = {f"{scale}_{n}": 3 for scale in ("bond", "goal", "task") for n in (1, 2)}


def full_record(client, instruments, colleague):
    """Sessions, ratings (answers, scores, a correction), an episode with a flag and a
    comment, a form link, a transfer, change history and audit events."""
    held = TherapySessionFactory(client=client, number=1)
    rating_of(held, instruments["client"], refresh_flags=False)
    therapist_rating = rating_of(held, instruments["therapist"], refresh_flags=False)
    rating_update(
        rating=therapist_rating, user=held.therapist, answers=ANSWERS, expected_revision=1
    )
    second = TherapySessionFactory(client=client, number=2)
    formlink_create(session=second, created_by=held.therapist)
    episode = Episode.objects.create(client=client, session=held, last_session=held, kind="rupture")
    Flag.objects.create(
        client=client,
        session=held,
        episode=episode,
        rater="client",
        scale="total",
        rule="reliable_drop",
        magnitude=1,
        explanation="x",
    )
    EpisodeComment.objects.create(
        episode=episode, author=held.therapist, text="Let us talk about it."
    )
    ClientTransfer.objects.create(
        client=client,
        from_therapist=held.therapist,
        to_therapist=colleague,
        transferred_by=colleague,
    )
    AccessEvent.objects.create(action="read", object_type="client", client_id=client.pk)
    return client


def discharged(therapist, code, days_ago):
    return ClientFactory(
        primary_therapist=therapist,
        code=code,
        status=Client.Status.DISCHARGED,
        discharged_at=timezone.now() - dt.timedelta(days=days_ago),
    )


def rows_of(client_id) -> dict[str, int]:
    ratings = Rating.objects.filter(session__client_id=client_id)
    return {
        "clients": Client.objects.filter(pk=client_id).count(),
        "sessions": TherapySession.objects.filter(client_id=client_id).count(),
        "ratings": ratings.count(),
        "answers": ItemAnswer.objects.filter(rating__in=ratings).count(),
        "scores": ScaleScore.objects.filter(rating__in=ratings).count(),
        "changes": RatingChange.objects.filter(rating__in=ratings).count(),
        "episodes": Episode.objects.filter(client_id=client_id).count(),
        "flags": Flag.objects.filter(client_id=client_id).count(),
        "comments": EpisodeComment.objects.filter(episode__client_id=client_id).count(),
        "links": FormLink.objects.filter(session__client_id=client_id).count(),
        "transfers": ClientTransfer.objects.filter(client_id=client_id).count(),
        "history": Client.history.filter(id=client_id).count()
        + TherapySession.history.filter(client_id=client_id).count()
        + Episode.history.filter(client_id=client_id).count(),
    }


@pytest.fixture
def clients(therapist, other_therapist, instruments):
    short = ClinicFactory(name="Short Retention", retention_days=30)
    short_therapist = TherapistFactory(clinic=short)
    short_colleague = TherapistFactory(clinic=short)
    return {
        "expired": full_record(discharged(therapist, "OLD-1", 2600), instruments, other_therapist),
        "kept": full_record(discharged(therapist, "RECENT-1", 365), instruments, other_therapist),
        "active": full_record(
            ClientFactory(primary_therapist=therapist, code="ACTIVE-1"),
            instruments,
            other_therapist,
        ),
        "short_expired": full_record(
            discharged(short_therapist, "S-OLD", 40), instruments, short_colleague
        ),
        "short_kept": full_record(
            discharged(short_therapist, "S-NEW", 20), instruments, short_colleague
        ),
    }


def test_purge_removes_exactly_the_clients_past_retention(clients):
    before = {name: rows_of(client.pk) for name, client in clients.items()}
    assert all(count > 0 for count in before["expired"].values())
    out = io.StringIO()
    call_command("purge_expired", stdout=out)
    report = out.getvalue()
    assert "Removed client OLD-1" in report and "Removed client S-OLD" in report
    assert "2 sessions, 2 ratings, 12 answers" in report
    assert "Removed 2 client(s) past retention." in report
    for name in ("expired", "short_expired"):
        assert set(rows_of(clients[name].pk).values()) == {0}, name
    for name in ("kept", "active", "short_kept"):
        assert rows_of(clients[name].pk) == before[name], name


def test_the_audit_log_keeps_its_events_and_records_the_purge(clients):
    client_id = clients["expired"].pk
    read_before = AccessEvent.objects.filter(client_id=client_id, action="read").count()
    call_command("purge_expired", stdout=io.StringIO())
    assert AccessEvent.objects.filter(client_id=client_id, action="read").count() == read_before
    purge = AccessEvent.objects.get(client_id=client_id, action="delete")
    assert (purge.username, purge.object_type, purge.object_id) == (
        "purge_expired",
        "client",
        client_id,
    )


def test_a_dry_run_changes_nothing(clients):
    before = {name: rows_of(client.pk) for name, client in clients.items()}
    out = io.StringIO()
    call_command("purge_expired", "--dry-run", stdout=out)
    assert "Would remove client OLD-1" in out.getvalue()
    assert "Would remove 2 client(s)" in out.getvalue()
    assert {name: rows_of(client.pk) for name, client in clients.items()} == before


def test_one_transaction_per_client(clients, monkeypatch):
    """A failure at the last step of one client leaves that client whole."""
    client_id = clients["expired"].pk
    before = rows_of(client_id)

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    # The purge's own audit event is written last, after every deletion: fail there.
    monkeypatch.setattr(services, "audit_record", fail)
    with pytest.raises(RuntimeError):
        services.client_purge(client=clients["expired"])
    monkeypatch.undo()
    assert rows_of(client_id) == before


def test_only_a_discharged_client_is_purged(clients):
    with pytest.raises(ValidationError):
        services.client_purge(client=clients["active"])


def test_the_discharged_clients_page_says_until_when_and_links_the_record(
    client, clients, therapist
):
    client.force_login(therapist)
    kept = clients["kept"]
    html = client.get(kept.get_absolute_url()).content.decode()
    until = timezone.localtime(kept.kept_until, kept.clinic.tzinfo)
    assert "this record is kept until" in html
    assert f"{until.day} {until:%b %Y}" in html
    assert reverse("client_export_record", args=[kept.pk]) in html
