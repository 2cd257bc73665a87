"""A small clinic and a second one, seen from every role, for the security tests.

own: objects of `therapist`'s client (supervised by `supervisor`); other: of
`other_therapist`'s client in the same clinic; foreign: a client of another clinic, whose
admin is `other_clinic_admin`. Client codes are distinctive so a leak shows in any body.
"""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.test import Client as BrowserClient
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from alliance.models import Episode, Flag, Notice
from sessions.formlinks import formlink_create
from tests.factories import (
    ClientFactory,
    SupervisionFactory,
    TherapistFactory,
    TherapySessionFactory,
    rating_of,
)

PASSWORD = "correct horse battery"
CODES = {"own": "AQ-7101", "other": "BX-8202", "foreign": "CZ-9303"}
ROLES = [
    "anonymous",
    "link_holder",
    "therapist",
    "other_therapist",
    "supervisor",
    "other_clinic_admin",
    "clinic_admin",
]
ANONYMOUS = {"anonymous", "link_holder"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate limits and throttles count in the cache: every test starts from zero.
    cache.clear()
    yield
    cache.clear()


def course(client, instruments) -> SimpleNamespace:
    """A client's course: session 1 held and rated by both, with an episode of one flag;
    session 2 held an hour ago, unrated, with a live form link."""
    now = timezone.now()
    held = TherapySessionFactory(client=client, number=1, starts_at=now - dt.timedelta(days=7))
    client_rating = rating_of(held, instruments["client"], refresh_flags=False)
    therapist_rating = rating_of(held, instruments["therapist"], refresh_flags=False)
    unrated = TherapySessionFactory(client=client, number=2, starts_at=now - dt.timedelta(hours=1))
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
    # The therapist's alert about the episode (alliance.notify).
    notice = Notice.objects.create(
        recipient=client.primary_therapist,
        kind=Notice.Kind.EPISODE_OPENED,
        episode=episode,
        client=client,
    )
    link, token = formlink_create(session=unrated, created_by=client.primary_therapist)
    return SimpleNamespace(
        client=client,
        held=held,
        unrated=unrated,
        episode=episode,
        flag=flag,
        notice=notice,
        rating=therapist_rating,
        client_rating=client_rating,
        link=link,
        token=token,
    )


@pytest.fixture
def world(therapist, other_therapist, supervisor, clinic_admin, other_clinic_admin, instruments):
    # Both clinics store client contact details: their pages answer (else 404 to everyone).
    for clinic in (therapist.clinic, other_clinic_admin.clinic):
        clinic.client_contact_details = True
        clinic.save(update_fields=["client_contact_details"])
    foreign_therapist = TherapistFactory(
        username="foreign-therapist", clinic=other_clinic_admin.clinic
    )
    foreign_supervision = SupervisionFactory(
        supervisor__clinic=other_clinic_admin.clinic,
        supervisor__username="foreign-supervisor",
        therapist=foreign_therapist,
    )
    courses = {
        "own": course(ClientFactory(primary_therapist=therapist, code=CODES["own"]), instruments),
        "other": course(
            ClientFactory(primary_therapist=other_therapist, code=CODES["other"]), instruments
        ),
        "foreign": course(
            ClientFactory(primary_therapist=foreign_therapist, code=CODES["foreign"]), instruments
        ),
    }
    users = {
        "anonymous": None,
        "link_holder": None,
        "therapist": therapist,
        "other_therapist": other_therapist,
        "supervisor": supervisor,
        "other_clinic_admin": other_clinic_admin,
        "clinic_admin": clinic_admin,
    }
    return SimpleNamespace(
        users=users,
        foreign_therapist=foreign_therapist,
        foreign_supervision=foreign_supervision,
        supervision=supervisor.supervisions.get(),
        instruments=instruments,
        **courses,
    )


def browser_for(world, role: str) -> BrowserClient:
    """A browser signed in as the role; the link holder has opened their form link."""
    browser = BrowserClient()
    if role == "link_holder":
        assert browser.get(f"/f/{world.own.token}/").status_code == 200
    elif world.users[role] is not None:
        browser.force_login(world.users[role])
    return browser


def api_for(world, role: str) -> APIClient:
    """An API client sending the role's token (none for anonymous and the link holder)."""
    api = APIClient()
    user = world.users[role]
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api
