"""A small clinic seen from every role, for the API's endpoint x role x object matrix.

Own objects belong to `therapist`'s client (supervised by `supervisor`); other objects to
`other_therapist`'s client in the same clinic, whom nobody supervises.
"""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from alliance.models import Episode, Flag
from tests.factories import (
    ClientFactory,
    ClinicAdminFactory,
    ClinicFactory,
    TherapySessionFactory,
    rating_of,
)

ROLES = ["therapist", "other_therapist", "supervisor", "clinic_admin", "foreign_admin", "anonymous"]


@pytest.fixture(autouse=True)
def _fresh_throttles():
    # The token endpoint's throttle counts in the cache; every test starts from zero.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clinic_admin(clinic):
    return ClinicAdminFactory(username="clinic-admin", clinic=clinic)


@pytest.fixture
def foreign_admin(db):
    return ClinicAdminFactory(username="foreign-admin", clinic=ClinicFactory(name="Far Away"))


def _course(client, instruments, now):
    held = TherapySessionFactory(client=client, number=1, starts_at=now - dt.timedelta(days=8))
    # The episode and its flag below are made by hand: the rupture engine has its own tests.
    rating_of(held, instruments["client"], refresh_flags=False)
    rating_of(held, instruments["therapist"], refresh_flags=False)
    unrated = TherapySessionFactory(client=client, number=2, starts_at=now - dt.timedelta(days=1))
    episode = Episode.objects.create(client=client, session=held, last_session=held, kind="rupture")
    flag = Flag.objects.create(
        client=client,
        session=held,
        episode=episode,
        rater="client",
        scale="total",
        rule=Flag.Rule.CLIENT_REPORTED_TENSION,
        magnitude=1,
        explanation="The client reported tension.",
    )
    return SimpleNamespace(client=client, held=held, unrated=unrated, episode=episode, flag=flag)


@pytest.fixture
def world(
    therapist, other_therapist, supervisor, clinic_admin, foreign_admin, instruments
) -> SimpleNamespace:
    now = timezone.now()
    own = _course(ClientFactory(primary_therapist=therapist, code="OWN-1"), instruments, now)
    other = _course(
        ClientFactory(primary_therapist=other_therapist, code="OTHER-1"), instruments, now
    )
    users = {
        "therapist": therapist,
        "other_therapist": other_therapist,
        "supervisor": supervisor,
        "clinic_admin": clinic_admin,
        "foreign_admin": foreign_admin,
        "anonymous": None,
    }
    return SimpleNamespace(own=own, other=other, users=users, instruments=instruments)


def api_client_for(user) -> APIClient:
    """An API client sending the user's token (no credentials for None)."""
    api = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api


@pytest.fixture
def api_as(world):
    return lambda role: api_client_for(world.users[role])
