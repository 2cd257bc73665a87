"""factory_boy factories for the domain models."""

import datetime as dt

import factory
from django.utils import timezone

from alliance.models import Client, Clinic, Supervision, User
from sessions.models import TherapySession


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Clinic {n}")
    timezone = "America/New_York"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    clinic = factory.SubFactory(ClinicFactory)
    password = factory.django.Password("correct horse battery")


class TherapistFactory(UserFactory):
    is_therapist = True


class SupervisorFactory(UserFactory):
    is_supervisor = True


class ClinicAdminFactory(UserFactory):
    is_clinic_admin = True


class SupervisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Supervision

    supervisor = factory.SubFactory(SupervisorFactory)
    therapist = factory.SubFactory(
        TherapistFactory, clinic=factory.SelfAttribute("..supervisor.clinic")
    )


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    primary_therapist = factory.SubFactory(TherapistFactory)
    clinic = factory.SelfAttribute("primary_therapist.clinic")
    code = factory.Sequence(lambda n: f"C-{n:04d}")


class TherapySessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TherapySession

    client = factory.SubFactory(ClientFactory)
    therapist = factory.SelfAttribute("client.primary_therapist")
    number = factory.Sequence(lambda n: n + 1)
    starts_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    status = TherapySession.Status.COMPLETED


def rating_of(session, instrument, answers=None, **kwargs):
    """Record a rating through the real service (validation, scoring, flags)."""
    from measures.services import rating_record

    if answers is None:
        definition = instrument.definition
        answers = {item["key"]: definition["response"]["max"] for item in definition["items"]}
    if instrument.rater == "therapist":
        kwargs.setdefault("submitted_by", session.therapist)
    rating, _ = rating_record(session=session, instrument=instrument, answers=answers, **kwargs)
    return rating


KINDS = {"ceiling": "ceiling", "missing_forms": "missing_forms"}


class EpisodeFactory(factory.django.DjangoModelFactory):
    """An open episode at a session (the one there of its kind: flags share it)."""

    class Meta:
        model = "alliance.Episode"
        django_get_or_create = ("client", "session", "kind")

    session = factory.SubFactory(TherapySessionFactory)
    client = factory.SelfAttribute("session.client")
    last_session = factory.SelfAttribute("session")
    kind = "rupture"


class FlagFactory(factory.django.DjangoModelFactory):
    """An open flag on a session's client, as the rupture engine would store it, in the
    episode of its session (created if need be)."""

    class Meta:
        model = "alliance.Flag"

    session = factory.SubFactory(TherapySessionFactory)
    client = factory.SelfAttribute("session.client")
    episode = factory.SubFactory(
        EpisodeFactory,
        session=factory.SelfAttribute("..session"),
        kind=factory.LazyAttribute(
            lambda episode: KINDS.get(episode.factory_parent.rule, "rupture")
        ),
        repair_status=factory.SelfAttribute("..repair_status"),
    )
    rater = "client"
    scale = "total"
    rule = "reliable_drop"
    magnitude = 1.5
    explanation = "Client-rated total fell from 4.5 to 3.0 (drop 1.5 ≥ threshold 0.9)."
    repair_status = ""
