import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone

from alliance.models import Client, Role, Supervision
from tests.factories import (
    ClientFactory,
    ClinicFactory,
    SupervisorFactory,
    TherapistFactory,
    TherapySessionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_client_code_is_unique_within_a_clinic(client_of_therapist):
    with pytest.raises(IntegrityError):
        ClientFactory(primary_therapist=client_of_therapist.primary_therapist, code="R-0001")


def test_the_same_client_code_may_exist_in_another_clinic(client_of_therapist):
    other = ClientFactory(primary_therapist__clinic=ClinicFactory(name="Elsewhere"), code="R-0001")
    assert other.code == client_of_therapist.code


def test_discharged_client_needs_a_discharge_time(client_of_therapist):
    client_of_therapist.status = Client.Status.DISCHARGED
    with pytest.raises(IntegrityError):
        client_of_therapist.save()


def test_session_numbers_are_unique_per_client(client_of_therapist):
    TherapySessionFactory(client=client_of_therapist, number=1)
    with pytest.raises(IntegrityError):
        TherapySessionFactory(client=client_of_therapist, number=1)


def test_session_numbers_start_at_one(client_of_therapist):
    with pytest.raises(IntegrityError):
        TherapySessionFactory(client=client_of_therapist, number=0)


def test_a_user_with_a_role_belongs_to_a_clinic():
    with pytest.raises(IntegrityError):
        UserFactory(clinic=None, is_therapist=True)


def test_nobody_supervises_themselves(therapist):
    with pytest.raises(IntegrityError):
        Supervision.objects.create(supervisor=therapist, therapist=therapist)


def test_supervision_stays_within_one_clinic(therapist):
    outsider = SupervisorFactory(clinic=ClinicFactory(name="Elsewhere"))
    with pytest.raises(ValidationError):
        Supervision(supervisor=outsider, therapist=therapist).full_clean()


def test_a_person_may_hold_several_roles(clinic):
    user = UserFactory(clinic=clinic, is_therapist=True, is_supervisor=True)
    assert user.roles == [Role.THERAPIST, Role.SUPERVISOR]


def test_clinic_timezone_must_be_an_iana_name(clinic):
    clinic.timezone = "Mars/Olympus_Mons"
    with pytest.raises(ValidationError, match="IANA"):
        clinic.full_clean()


def test_a_client_with_sessions_cannot_be_deleted(client_of_therapist):
    from django.db.models import ProtectedError

    TherapySessionFactory(client=client_of_therapist, number=1, starts_at=timezone.now())
    with pytest.raises(ProtectedError):
        client_of_therapist.delete()


class TestVisibleTo:
    def test_therapist_sees_own_clients_only(self, therapist, other_therapist):
        mine = ClientFactory(primary_therapist=therapist)
        ClientFactory(primary_therapist=other_therapist)
        assert list(Client.objects.visible_to(therapist)) == [mine]

    def test_therapist_sees_clients_they_held_a_session_with(self, therapist, other_therapist):
        covered = ClientFactory(primary_therapist=other_therapist)
        TherapySessionFactory(client=covered, therapist=therapist, number=1)
        assert list(Client.objects.visible_to(therapist)) == [covered]

    def test_supervisor_sees_supervisees_clients(self, supervisor, therapist, other_therapist):
        supervised = ClientFactory(primary_therapist=therapist)
        ClientFactory(primary_therapist=other_therapist)
        assert list(Client.objects.visible_to(supervisor)) == [supervised]

    def test_clinic_admin_sees_the_clinic_and_nothing_else(self, therapist, other_therapist):
        admin = UserFactory(clinic=therapist.clinic, is_clinic_admin=True)
        ours = {
            ClientFactory(primary_therapist=therapist),
            ClientFactory(primary_therapist=other_therapist),
        }
        ClientFactory(primary_therapist=TherapistFactory(clinic=ClinicFactory(name="Elsewhere")))
        assert set(Client.objects.visible_to(admin)) == ours

    def test_nobody_sees_another_clinic_even_with_a_session_there(self, therapist):
        foreign = ClientFactory(primary_therapist__clinic=ClinicFactory(name="Elsewhere"))
        TherapySessionFactory(
            client=foreign,
            therapist=therapist,
            number=1,
            starts_at=timezone.now() - dt.timedelta(days=2),
        )
        assert list(Client.objects.visible_to(therapist)) == []

    def test_inactive_or_roleless_users_see_nothing(self, client_of_therapist, clinic):
        therapist = client_of_therapist.primary_therapist
        therapist.is_active = False
        assert list(Client.objects.visible_to(therapist)) == []
        assert list(Client.objects.visible_to(UserFactory(clinic=clinic))) == []
