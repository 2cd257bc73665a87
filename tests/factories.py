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


def rating_of(session, instrument, answers=None, *, refresh_flags=True, **kwargs):
    """Record a rating through the real services as a form's caller does: store it
    (measures), then refresh the client's flags (alliance) unless ``refresh_flags=False``."""
    from alliance.flags.services import flags_refresh_or_defer
    from measures.services import rating_record

    if answers is None:
        definition = instrument.definition
        answers = {item["key"]: definition["response"]["max"] for item in definition["items"]}
    if instrument.rater == "therapist":
        kwargs.setdefault("submitted_by", session.therapist)
    rating, created = rating_record(
        session=session, instrument=instrument, answers=answers, **kwargs
    )
    if created and refresh_flags:
        flags_refresh_or_defer(client=session.client)
    return rating


class EpisodeFactory(factory.django.DjangoModelFactory):
    """An open rupture episode beginning at a session (give it flags with FlagFactory)."""

    class Meta:
        model = "alliance.Episode"
        django_get_or_create = ("client", "session", "kind")

    session = factory.SubFactory(TherapySessionFactory)
    client = factory.SelfAttribute("session.client")
    kind = "rupture"
    last_session = factory.SelfAttribute("session")


def _episode_of(flag) -> object:
    """The flag's episode as the refresh groups it: one per client, session and kind
    (alliance.analytics.episodes), made if none exists yet."""
    from alliance.analytics.episodes import RUPTURE_RULES

    kind = "rupture" if flag.rule in RUPTURE_RULES else flag.rule
    return EpisodeFactory(client=flag.client, session=flag.session, kind=kind)


class FlagFactory(factory.django.DjangoModelFactory):
    """An active flag on a session's client, as the rupture engine would store it, in the
    (open) episode of its client, session and kind unless one is given."""

    class Meta:
        model = "alliance.Flag"

    session = factory.SubFactory(TherapySessionFactory)
    client = factory.SelfAttribute("session.client")
    episode = factory.LazyAttribute(_episode_of)
    rater = "client"
    scale = "total"
    rule = "reliable_drop"
    magnitude = 1.5
    explanation = "Client-rated total fell from 4.5 to 3.0 (drop 1.5 ≥ threshold 0.9)."


class NoticeFactory(factory.django.DjangoModelFactory):
    """A therapist's alert about an episode of their client (alliance.notify)."""

    class Meta:
        model = "alliance.Notice"

    episode = factory.SubFactory(EpisodeFactory)
    client = factory.SelfAttribute("episode.client")
    recipient = factory.SelfAttribute("client.primary_therapist")
    kind = "episode_opened"
