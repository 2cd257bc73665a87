"""Alert emails: at once on commit, the daily digest and the supervisor's weekly digest.
Counts, a clinic's name and a link, in the recipient's language; never a client's code or
name, a score or a flag's text; nothing sent twice."""

import datetime as dt
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from alliance.flags import services as flag_services
from alliance.models import AccessEvent, Notice, User
from alliance.notify import alerts, tasks
from tests.factories import (
    ClientFactory,
    ClinicFactory,
    EpisodeFactory,
    NoticeFactory,
    SupervisorFactory,
    TherapistFactory,
)
from tests.flags.helpers import course

pytestmark = pytest.mark.django_db

# 06:00 on a Monday in the test clinic's time (America/New_York, UTC-5 in February).
MONDAY_6 = dt.datetime(2026, 2, 23, 11, 0, tzinfo=dt.UTC)


def next_six(tz: str = "America/New_York") -> dt.datetime:
    """The next 06:00 of the clinic's time: the daily digest's hour, after notices made now."""
    tomorrow = timezone.now().astimezone(ZoneInfo(tz)).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(6), tzinfo=ZoneInfo(tz))


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
    assert alerts.notices_daily_digest(now=next_six()) == 0
    assert mailoutbox == []


def test_a_digest_that_could_not_be_sent_gives_its_alerts_back(therapist, monkeypatch):
    set_alerts(therapist, User.AlertEmail.DAILY)
    notice = NoticeFactory(episode=EpisodeFactory(session__client__primary_therapist=therapist))
    monkeypatch.setattr(alerts, "email_send", lambda **kwargs: False)
    assert alerts.notices_daily_digest(now=next_six()) == 0
    notice.refresh_from_db()
    therapist.refresh_from_db()
    assert notice.emailed_at is None
    assert therapist.daily_digest_at is None  # the day's digest is still to come
    monkeypatch.undo()
    assert alerts.notices_daily_digest(now=next_six() + dt.timedelta(minutes=30)) == 1


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
    assert alerts.notices_daily_digest(now=next_six()) == 0
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
    with time_machine.travel(MONDAY_6 + dt.timedelta(minutes=30), tick=False):
        assert alerts.supervisors_weekly_digest() == 0  # the same week: stamped
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
    assert alerts.supervisors_weekly_digest(now=MONDAY_6) == 0
    set_alerts(supervisor, User.AlertEmail.DAILY, email="")
    assert alerts.supervisors_weekly_digest(now=MONDAY_6) == 0
    assert mailoutbox == []


def test_the_beat_schedule_runs_the_digests_hourly_and_the_sweep_every_15_minutes():
    schedule = settings.CELERY_BEAT_SCHEDULE
    daily = schedule["notices-daily-digest"]
    weekly = schedule["supervisors-weekly-digest"]
    sweep = schedule["notices-at-once-sweep"]
    assert daily["task"] == "alliance.notify.tasks.notices_daily_digest"
    assert weekly["task"] == "alliance.notify.tasks.supervisors_weekly_digest"
    assert sweep["task"] == "alliance.notify.tasks.notices_email_unsent_at_once"
    for hourly in (daily, weekly):  # each clinic's 06:00 comes in its own UTC hour
        assert hourly["schedule"].hour == set(range(24)) and hourly["schedule"].minute == {0}
        assert hourly["options"]["expires"] < 3600
    assert sweep["schedule"] == sweep["options"]["expires"] == 900


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
    out = StringIO()
    with time_machine.travel(MONDAY_6, tick=False):
        NoticeFactory(episode=EpisodeFactory(session__client__primary_therapist=therapist))
        call_command("send_alert_digests", "--daily", "--weekly", stdout=out)
    assert "Daily alert digest: 1 person(s) emailed." in out.getvalue()
    assert "Supervisor weekly digest: 1 supervisor(s) emailed." in out.getvalue()
    assert len(mailoutbox) == 2
    with pytest.raises(CommandError):
        call_command("send_alert_digests")


# --- each clinic's 06:00 -----------------------------------------------------------------


def test_the_daily_digest_goes_out_at_six_in_each_clinics_own_time(therapist, mailoutbox):
    madrid = TherapistFactory(clinic=ClinicFactory(name="Madrid", timezone="Europe/Madrid"))
    for person in (therapist, madrid):  # New York UTC-5, Madrid UTC+1 in February
        set_alerts(person, User.AlertEmail.DAILY)
    with time_machine.travel(MONDAY_6 - dt.timedelta(hours=12), tick=False):
        for person in (therapist, madrid):
            NoticeFactory(episode=EpisodeFactory(session__client__primary_therapist=person))

    def run(utc_hour, minute=0):
        at = dt.datetime(2026, 2, 23, utc_hour, minute, tzinfo=dt.UTC)
        with time_machine.travel(at, tick=False):
            return tasks.notices_daily_digest.delay().get()

    assert run(4) == 0  # 05:00 in Madrid, 23:00 in New York
    assert run(5) == 1  # 06:00 in Madrid
    assert [m.to for m in mailoutbox] == [[madrid.email]]
    with time_machine.travel(dt.datetime(2026, 2, 23, 5, 20, tzinfo=dt.UTC), tick=False):
        NoticeFactory(episode=EpisodeFactory(session__client__primary_therapist=madrid))
    assert run(5, 40) == 0  # the same hour again (a retry): today's digest is stamped
    assert run(10) == 0  # 05:00 in New York
    assert run(11) == 1  # 06:00 in New York
    assert mailoutbox[1].to == [therapist.email]
    assert run(11, 30) == 0
    assert [run(hour) for hour in range(12, 24)] == [0] * 12  # nobody else's 06:00 today
    # The next day in Madrid: the alert made after yesterday's digest.
    at = dt.datetime(2026, 2, 24, 5, 0, tzinfo=dt.UTC)
    with time_machine.travel(at, tick=False):
        assert alerts.notices_daily_digest() == 1
    assert mailoutbox[2].to == [madrid.email] and "1 new unread alert" in mailoutbox[2].body


def test_the_weekly_digest_goes_out_on_monday_at_six_in_each_clinics_own_time(
    supervisor, queue, mailoutbox
):
    from alliance.people.services import supervision_add

    clinic = ClinicFactory(name="Sydney", timezone="Australia/Sydney")  # UTC+11 in February
    sydney = set_alerts(SupervisorFactory(clinic=clinic), User.AlertEmail.DAILY)
    supervision_add(supervisor=sydney, therapist=TherapistFactory(clinic=clinic))

    def run(day, utc_hour, month=2):
        at = dt.datetime(2026, month, day, utc_hour, 0, tzinfo=dt.UTC)
        with time_machine.travel(at, tick=False):
            return alerts.supervisors_weekly_digest()

    assert run(22, 18) == 0  # Sunday 18:00 UTC: Monday 05:00 in Sydney
    assert run(22, 19) == 1  # Monday 06:00 in Sydney
    assert [m.to for m in mailoutbox] == [[sydney.email]]
    assert run(22, 19) == 0  # stamped for the week
    assert run(23, 6) == 0  # 06:00 UTC is 01:00 in New York
    assert run(23, 11) == 1  # Monday 06:00 in New York
    assert mailoutbox[1].to == [supervisor.email]
    assert run(24, 11) == 0  # Tuesday
    assert run(1, 19, month=3) == 1  # the next Monday in Sydney


# --- the sweep behind the email at once --------------------------------------------------


def test_an_alert_at_once_that_could_not_be_sent_is_swept_later_once(
    therapist, monkeypatch, mailoutbox
):
    set_alerts(therapist, User.AlertEmail.IMMEDIATELY)
    made = dt.datetime(2026, 2, 23, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(made, tick=False):
        notice = NoticeFactory(episode=EpisodeFactory(session__client__primary_therapist=therapist))
        monkeypatch.setattr(alerts, "email_send", lambda **kwargs: False)
        assert tasks.notices_email_at_once.delay(therapist.pk).get() == 0  # the server refused
        monkeypatch.undo()
    notice.refresh_from_db()
    assert notice.emailed_at is None

    with time_machine.travel(made + dt.timedelta(minutes=3), tick=False):
        assert tasks.notices_email_unsent_at_once.delay().get() == 0  # too fresh yet
    with time_machine.travel(made + dt.timedelta(minutes=15), tick=False):
        assert tasks.notices_email_unsent_at_once.delay().get() == 1
        assert alerts.notices_email_unsent_at_once() == 0  # claimed: never twice
        assert tasks.notices_email_at_once.delay(therapist.pk).get() == 0
    [message] = mailoutbox
    assert message.to == [therapist.email]
    assert message.subject == "A new alert at Riverside Counselling"
    notice.refresh_from_db()
    assert notice.emailed_at == made + dt.timedelta(minutes=15)
    # Audited once, the email that was sent only: who was told, never the address.
    [event] = AccessEvent.objects.filter(object_type="alert_email")
    assert (event.action, event.user, event.username, event.roles, event.clinic_id) == (
        AccessEvent.Action.CREATE,
        therapist,
        "alerts",
        "system",
        therapist.clinic_id,
    )
    assert therapist.email not in str(vars(event))


def test_the_sweep_sends_what_a_broker_that_was_down_lost_and_serves_only_at_once(
    client_of_therapist,
    therapist,
    instruments,
    monkeypatch,
    mailoutbox,
    clinic,
    django_capture_on_commit_callbacks,
):
    def unreachable(*args, **kwargs):
        raise ConnectionError("broker down")

    set_alerts(therapist, User.AlertEmail.IMMEDIATELY)
    daily = set_alerts(TherapistFactory(clinic=clinic), User.AlertEmail.DAILY)
    made = dt.datetime(2026, 2, 23, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(made, tick=False):
        NoticeFactory(episode=EpisodeFactory(session__client__primary_therapist=daily))
        monkeypatch.setattr(tasks.notices_email_at_once, "delay", unreachable)
        course(client_of_therapist, instruments, client_totals=[4.5, 4.5, 4.5, 3.0])
        with django_capture_on_commit_callbacks(execute=True):  # queueing fails, logged
            assert flag_services.flags_refresh_or_defer(client=client_of_therapist).opened
    assert mailoutbox == []
    with time_machine.travel(made + dt.timedelta(minutes=15), tick=False):
        out = StringIO()
        call_command("send_alert_digests", "--at-once", stdout=out)  # as cron would
    assert "Alerts at once: 1 person(s) emailed." in out.getvalue()
    assert [m.to for m in mailoutbox] == [[therapist.email]]
