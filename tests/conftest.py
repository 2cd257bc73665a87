import io
import socket
from importlib import import_module

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client as BrowserClient
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from measures.models import Instrument, Rater
from tests.factories import (
    ClientFactory,
    ClinicAdminFactory,
    ClinicFactory,
    SupervisionFactory,
    TherapistFactory,
    UserFactory,
)


@pytest.fixture(scope="session", autouse=True)
def _flush_lifts_the_audit_truncate_trigger():
    """pytest-django empties the database after each transactional test with `flush`, one
    TRUNCATE of every table, which the audit log refuses on PostgreSQL (migration 0007).
    In tests only, that flush lifts the trigger inside its own transaction, so no other
    session ever sees the table without it."""
    from django.db import connections

    if all(connection.vendor != "postgresql" for connection in connections.all()):
        yield
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    no_truncate = import_module("alliance.migrations.0007_accessevent_no_truncate")
    table, trigger = no_truncate.TABLE, no_truncate.TRIGGER
    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = original(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if table not in tables:
            return statements
        return [
            f"ALTER TABLE {table} DISABLE TRIGGER {trigger};",
            *statements,
            f"ALTER TABLE {table} ENABLE TRIGGER {trigger};",
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _job_files(settings, tmp_path):
    # Background jobs' files (alliance.jobs) in the test's own directory, never in var/.
    settings.ALLIANCE_JOB_FILES_DIR = tmp_path / "jobs"


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate limits and login failures per address count in the cache: no test inherits them.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clinic(db):
    return ClinicFactory(name="Riverside Counselling")


@pytest.fixture
def therapist(clinic):
    return TherapistFactory(username="therapist", clinic=clinic)


@pytest.fixture
def other_therapist(clinic):
    return TherapistFactory(username="other-therapist", clinic=clinic)


@pytest.fixture
def supervision(therapist):
    return SupervisionFactory(
        therapist=therapist, supervisor__clinic=therapist.clinic, supervisor__username="supervisor"
    )


@pytest.fixture
def supervisor(supervision):
    return supervision.supervisor


@pytest.fixture
def client_of_therapist(therapist):
    return ClientFactory(primary_therapist=therapist, code="R-0001")


@pytest.fixture
def instruments(db):
    """The shipped client and therapist instruments, loaded as `make run` loads them."""
    call_command("load_instruments", stdout=io.StringIO())
    return {instrument.rater: instrument for instrument in Instrument.objects.all()}


@pytest.fixture
def second_client_form(instruments):
    """A clinic's own client instrument beside the shipped one (the shipped items), so that
    one session can hold two client ratings."""
    return Instrument.objects.create(
        key="clinic-own-form",
        version=1,
        name="The clinic's own form",
        rater=Rater.CLIENT,
        definition=instruments[Rater.CLIENT].definition,
    )


@pytest.fixture
def clinic_admin(clinic):
    return ClinicAdminFactory(username="clinic-admin", clinic=clinic)


@pytest.fixture
def other_clinic_admin(db):
    return ClinicAdminFactory(
        username="other-clinic-admin", clinic=ClinicFactory(name="Hillside Practice")
    )


@pytest.fixture
def demo(instruments):
    """The demo clinic (``seed_demo``), as its therapist: the schemathesis runs' user."""
    from alliance.devtools.demo import demo_seed
    from alliance.models import User

    demo_seed()
    return User.objects.get(username="demo-therapist")


@pytest.fixture
def site_staff(db):
    """A superuser of no clinic, as `createsuperuser` makes one, with an authenticator app."""
    user = UserFactory(username="root", clinic=None, is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


def browser_past_second_factor(user) -> BrowserClient:
    """A browser signed in as the user with their authenticator app (one is made if needed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    browser = BrowserClient()
    browser.force_login(user)
    session = browser.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return browser


@pytest.fixture
def staff_browser(site_staff):
    """A browser signed in as site staff, past the second factor (the admin site needs it)."""
    return browser_past_second_factor(site_staff)


def free_port() -> int:
    """A loopback port nobody listens on (for a server a test starts, or for none)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_unreachable(settings):
    """Django's SMTP backend pointed at a loopback port nobody listens on: every send fails."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
