import datetime as dt

import pytest
import time_machine

from alliance.models import ClientContact
from tests.factories import TherapySessionFactory
from tests.sessions.conftest import compile_translations

ADDRESS = "client.r0001@mail.example"
# A Monday morning; the clinic's links work 72 hours (the default).
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


@pytest.fixture(scope="session", autouse=True)
def _spanish_compiled():
    compile_translations()


@pytest.fixture
def clinic_on(clinic):
    clinic.client_contact_details = True
    clinic.save(update_fields=["client_contact_details"])
    return clinic


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def contact(clinic_on, client_of_therapist, therapist, clock):
    return ClientContact.objects.create(
        client=client_of_therapist,
        address=ADDRESS,
        consent_recorded_by=therapist,
        consent_recorded_at=T0,
    )


@pytest.fixture
def therapy_session(client_of_therapist, instruments, clock):
    return TherapySessionFactory(
        client=client_of_therapist, number=1, starts_at=T0 - dt.timedelta(hours=1)
    )
