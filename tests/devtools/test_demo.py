import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.http import HttpRequest

from alliance.models import Client, Episode, Notice, Supervision, User
from measures.models import Rating

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_builds_the_demo_clinic_and_prints_the_logins(instruments):
    output = seed()
    assert "demo-therapist" in output and "demo-admin" in output
    assert Client.objects.count() == 25
    assert set(Client.objects.values_list("primary_therapist__username", flat=True)) == {
        "demo-therapist",
        "demo-therapist2",
    }
    supervisor = User.objects.get(username="demo-supervisor")
    assert Supervision.objects.filter(supervisor=supervisor).count() == 2
    # django-axes counts logins per request: authenticate() is always given one.
    assert authenticate(HttpRequest(), username="demo-therapist", password="demo") is not None
    counts = [client.sessions.count() for client in Client.objects.all()]
    assert min(counts) >= 5 and max(counts) <= 31  # 4-30 held, plus the next one scheduled


def test_seed_demo_is_idempotent_and_deterministic(instruments):
    seed()
    first = sorted(Rating.objects.values_list("submission_id", "scores__scale", "scores__score"))
    seed()
    assert (
        sorted(Rating.objects.values_list("submission_id", "scores__scale", "scores__score"))
        == first
    )
    assert User.objects.filter(username__startswith="demo-").count() == 4


def test_some_demo_clients_have_missing_client_forms(instruments):
    seed()
    client = Client.objects.get(code="RDC-005")
    completed = client.sessions.filter(status="completed").order_by("-number")[:3]
    assert not Rating.objects.filter(session__in=completed, rater="client").exists()


def test_seed_demo_explains_missing_instruments(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="load_instruments"):
        seed()


def test_the_demo_therapists_have_an_alert_for_each_rupture_found_once(instruments):
    seed()
    ruptures = Episode.objects.filter(kind=Episode.Kind.RUPTURE)
    notices = Notice.objects.filter(kind=Notice.Kind.EPISODE_OPENED)
    assert ruptures.exists()
    assert sorted(notices.values_list("episode_id", flat=True)) == sorted(
        ruptures.values_list("pk", flat=True)
    )
    assert all(n.recipient_id == n.client.primary_therapist_id for n in notices)
    # Unread: the ruptures still open; those the story acknowledged or resolved are read.
    unread = notices.filter(read_at__isnull=True)
    assert sorted(unread.values_list("episode_id", flat=True)) == sorted(
        ruptures.filter(status=Episode.Status.OPEN).values_list("pk", flat=True)
    )
    assert 0 < unread.count() < notices.count()
    seed()
    assert notices.count() == ruptures.count()
