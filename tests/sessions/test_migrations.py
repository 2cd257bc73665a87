"""The data step of migrations that fill in derived columns, run against today's models."""

import importlib

import pytest
from django.apps import apps

from sessions.models import TherapySession
from tests.factories import ClientFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db


def test_existing_client_ratings_fill_in_their_sessions_client_form(therapist, instruments):
    migration = importlib.import_module("sessions.migrations.0003_session_client_form")
    client = ClientFactory(primary_therapist=therapist)
    rated = TherapySessionFactory(client=client, number=1, therapist=therapist)
    sparse = TherapySessionFactory(client=client, number=2, therapist=therapist)
    TherapySessionFactory(client=client, number=3, therapist=therapist)
    rating = rating_of(rated, instruments["client"])
    rating_of(sparse, instruments["client"], {"bond_1": 3})
    rating_of(sparse, instruments["therapist"])
    sessions = TherapySession.objects.filter(client=client).order_by("number")
    sessions.update(client_form=False, client_total=None)  # as before the migration

    migration.fill_client_form(apps, None)

    assert list(sessions.values_list("client_form", "client_total")) == [
        (True, pytest.approx(rating.scores.get(scale="total").score)),
        (True, None),
        (False, None),
    ]
