"""Alert emails: at once on commit, the daily digest and the supervisor's weekly digest.
Counts, a clinic's name and a link, in the recipient's language; never a client's code or
name, a score or a flag's text; nothing sent twice."""

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from alliance.flags import services as flag_services
from alliance.models import Notice, User
from alliance.notify import alerts, tasks
from tests.factories import (
    ClientFactory,
    EpisodeFactory,
    NoticeFactory,
    SupervisorFactory,
    TherapistFactory,
)
from tests.flags.helpers import course

pytestmark = pytest.mark.django_db

MONDAY_6 = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)


def set_alerts(user, alert_email, *, language="en", email="someone@example.org"):
    user.alert_email, user.language, user.email = alert_email, language, email
    user.save(update_fields=["alert_email", "language", "email"])
    return user


def assert_nothing_clinical(message, *clients):
    text = message.subject + message.body
    for client in clients:
        assert client.code not in text
        assert not client.display_name or client.display_name not in text
    for word in ("fell", "drop", "score", "tension", "threshold", "reliable"):
        assert word not in text.lower()


def test_an_alert_at_once_is_emailed_on_commit_in_the_therapists_language(
    client_of_therapist, therapist, instruments, mailoutbox, django_capture_on_commit_callbacks
):
    client_of_therapist.display_name = "J.D."
    client_of_therapist.save(update_fields=["display_name"])
    set_alerts(therapist, User.AlertEmail.IMMEDIATELY, language="es")
    course(client_of_therapist, instruments, client_totals=[4.5, 4.5, 4.5, 3.0], tension=[4])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        flag_services.flags_refresh_or_defer(client=client_of_therapist)
    assert mailoutbox == []  # not before the commit
    assert len(callbacks) == 1
    callbacks[0]()

    [message] = mailoutbox
    assert message.to == [therapist.email]
    assert message.subject == "Un aviso nuevo en Riverside Counselling"
    assert "Riverside Counselling" in message.body
    assert f"{settings.ALLIANCE_BASE_URL}/notices/" in message.body
    assert "Inicie sesión" in message.body
    assert_nothing_clinical(message, client_of_therapist)
    assert Notice.objects.get().emailed_at is not None

    # Sent once: the task run again (a retry, a duplicate) finds nothing new.
    assert tasks.notices_email_at_once.delay(therapist.pk).get() == 0
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    ("alert_email", "email", "active"),
    [
        (User.AlertEmail.DAILY, "t@example.org", True),
        (User.AlertEmail.NONE, "t@example.org", True),
        (User.AlertEmail.IMMEDIATELY, "", True),
        (User.AlertEmail.IMMEDIATELY, "t@example.org", False),
    ],
)
def test_no_email_at_once_unless_chosen_with_an_address_and_active(
    therapist, mailoutbox, django_capture_on_commit_callbacks, alert_email, email, active
):
    set_alerts(therapist, alert_email, email=email)
    notice = NoticeFactory(episode=EpisodeFactory(session__client__primary_therapist=therapist))
    therapist.is_active = active
    therapist.save(update_fields=["is_active"])
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts.notices_email_at_once(therapist.pk) == 0
    assert mailoutbox == []
    notice.refresh_from_db()
    assert notice.emailed_at is None


def test_the_daily_digest_counts_new_unread_alerts_once_a_day(therapist, mailoutbox):
    set_alerts(therapist, User.AlertEmail.DAILY, language="es")
    clients = [ClientFactory(primary_therapist=therapist) for _ in range(3)]
    with time_machine.travel(MONDAY_6 - dt.timedelta(hours=20), tick=False):
        new = [NoticeFactory(episode=EpisodeFactory(session__client=c)) for c in clients[:2]]
        NoticeFactory(episode=EpisodeFactory(session__client=clients[2]), read_at=timezone.now())
    with time_machine.travel(MONDAY_6, tick=False):
        assert tasks.notices_daily_digest.delay().get() == 1
        assert alerts.notices_daily_digest() == 0  # a second run the same day: nothing
    [message] = mailoutbox
    assert message.subject == "Sus avisos del día en Riverside Counselling: 2 nuevos"
    assert "2 avisos nuevos sin leer" in message.body
    assert_nothing_clinical(message, *clients)
    assert all(n.emailed_at == MONDAY_6 for n in Notice.objects.filter(pk__in=[x.pk for x in new]))

    with time_machine.travel(MONDAY_6 + dt.timedelta(hours=12), tick=False):
        NoticeFactory(episode=EpisodeFactory(session__client=clients[0]))
    with time_machine.travel(MONDAY_6 + dt.timedelta(days=1), tick=False):
        assert alerts.notices_daily_digest() == 1
    assert "1 aviso nuevo sin leer" in mailoutbox[1].body


def test_the_daily_digest_skips_other_choices_and_people_it_cannot_reach(therapist, mailoutbox):
    people = [
        set_alerts(TherapistFactory(clinic=therapist.clinic), choice, email=email)
        for choice, email in [
            (User.AlertEmail.IMMEDIATELY, "a@example.org"),
            (User.AlertEmail.NONE, "b@example.org"),
            (User.AlertEmail.DAILY, ""),
        ]
    ]
    gone = set_alerts(TherapistFactory(clinic=therapist.clinic), User.AlertEmail.DAILY)
    for person in [*people, gone]:
        NoticeFactory(episode=EpisodeFactory(session__client__primary_therapist=person))
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    assert alerts.notices_daily_digest() == 0
    assert mailoutbox == []


def test_a_digest_that_could_not_be_sent_gives_its_alerts_back(therapist, monkeypatch):
    set_alerts(therapist, User.AlertEmail.DAILY)
    notice = NoticeFactory(episode=EpisodeFactory(session__client__primary_therapist=therapist))
    monkeypatch.setattr(alerts, "email_send", lambda **kwargs: False)
    assert alerts.notices_daily_digest() == 0
    notice.refresh_from_db()
    assert notice.emailed_at is None


def test_the_daily_digest_tells_nobody_about_a_client_they_no_longer_see(
    therapist, other_therapist, clinic_admin, mailoutbox
):
    from alliance.clients.services import client_transfer
    from tests.factories import TherapySessionFactory

    set_alerts(therapist, User.AlertEmail.DAILY)
    client = ClientFactory(primary_therapist=therapist)
    session = TherapySessionFactory(client=client, therapist=other_therapist)
    NoticeFactory(episode=EpisodeFactory(session=session))
    client_transfer(client=client, to_therapist=other_therapist, transferred_by=clinic_admin)
    assert alerts.notices_daily_digest() == 0
    assert mailoutbox == []


# --- the supervisor's weekly digest ------------------------------------------------------


@pytest.fixture
def queue(supervisor, therapist, instruments):
    """Two clients of the supervisee: one with an open rupture, one without ratings."""
    set_alerts(supervisor, User.AlertEmail.DAILY, language="es")
    flagged = ClientFactory(primary_therapist=therapist, code="R-0042", display_name="Ana")
    course(flagged, instruments, client_totals=[4.5, 4.5, 4.5, 3.0], refresh=True)
    ClientFactory(primary_therapist=therapist, code="R-0043")
    return [flagged]


def test_the_weekly_digest_gives_each_supervisor_their_queues_counts_once_a_week(
    supervisor, queue, mailoutbox
):
    counts = alerts.supervisor_queue_counts(supervisor)
    assert counts == {"therapists": 1, "clients": 2, "attention": 1, "open": 1, "unrepaired": 0}
    with time_machine.travel(MONDAY_6, tick=False):
        assert tasks.supervisors_weekly_digest.delay().get() == 1
    with time_machine.travel(MONDAY_6 + dt.timedelta(days=3), tick=False):
        assert alerts.supervisors_weekly_digest() == 0  # the same week
    [message] = mailoutbox
    assert message.to == [supervisor.email]
    assert message.subject == "Su semana de supervisión en Riverside Counselling"
    assert "1 paciente necesita revisión (de 2 pacientes activos, 1 terapeuta)" in message.body
    assert "1 alerta abierta" in message.body
    assert "0 rupturas sin reparar" in message.body
    assert f"{settings.ALLIANCE_BASE_URL}/supervision/" in message.body
    assert_nothing_clinical(message, *queue)

    with time_machine.travel(MONDAY_6 + dt.timedelta(days=7), tick=False):
        assert alerts.supervisors_weekly_digest() == 1
    assert len(mailoutbox) == 2


def test_no_weekly_digest_for_no_emails_no_address_or_no_supervisees(supervisor, queue, mailoutbox):
    set_alerts(supervisor, User.AlertEmail.NONE)
    set_alerts(SupervisorFactory(clinic=supervisor.clinic), User.AlertEmail.DAILY)  # no team
    assert alerts.supervisors_weekly_digest() == 0
    set_alerts(supervisor, User.AlertEmail.DAILY, email="")
    assert alerts.supervisors_weekly_digest() == 0
    assert mailoutbox == []


def test_the_beat_schedule_runs_the_digests_daily_and_on_mondays():
    schedule = settings.CELERY_BEAT_SCHEDULE
    daily = schedule["notices-daily-digest"]
    weekly = schedule["supervisors-weekly-digest"]
    assert daily["task"] == "alliance.notify.tasks.notices_daily_digest"
    assert weekly["task"] == "alliance.notify.tasks.supervisors_weekly_digest"
    assert daily["schedule"].hour == {6} and daily["schedule"].minute == {0}
    assert weekly["schedule"].day_of_week == {1} and weekly["schedule"].hour == {6}
    assert daily["options"]["expires"] == 24 * 3600
    assert weekly["options"]["expires"] == 7 * 24 * 3600


def test_a_queue_that_cannot_be_reached_never_fails_the_stored_rating(
    client_of_therapist, therapist, instruments, monkeypatch, django_capture_on_commit_callbacks
):
    def unreachable(*args, **kwargs):
        raise ConnectionError("broker down")

    set_alerts(therapist, User.AlertEmail.IMMEDIATELY)
    monkeypatch.setattr(tasks.notices_email_at_once, "delay", unreachable)
    course(client_of_therapist, instruments, client_totals=[4.5, 4.5, 4.5, 3.0])
    with django_capture_on_commit_callbacks(execute=True):
        assert flag_services.flags_refresh_or_defer(client=client_of_therapist).opened
    assert Notice.objects.count() == 1


def test_the_command_sends_the_digests_as_beat_does(therapist, supervisor, queue, mailoutbox):
    from io import StringIO

    from django.core.management import CommandError, call_command

    set_alerts(therapist, User.AlertEmail.DAILY)
    NoticeFactory(episode=EpisodeFactory(session__client__primary_therapist=therapist))
    out = StringIO()
    call_command("send_alert_digests", "--daily", "--weekly", stdout=out)
    assert "Daily alert digest: 1 person(s) emailed." in out.getvalue()
    assert "Supervisor weekly digest: 1 supervisor(s) emailed." in out.getvalue()
    assert len(mailoutbox) == 2
    with pytest.raises(CommandError):
        call_command("send_alert_digests")
