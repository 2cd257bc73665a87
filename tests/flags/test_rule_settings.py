"""The clinic admin's rupture-rule settings page: a form generated from DEFAULTS."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from kombu.exceptions import OperationalError as KombuOperationalError

from alliance.analytics import DEFAULTS
from alliance.flags import selectors as flag_selectors
from alliance.flags import services as flag_services
from alliance.flags.forms import RuleSettingsForm
from alliance.jobs import tasks
from alliance.models import Clinic, Flag, Job
from tests.flags.helpers import course

pytestmark = pytest.mark.django_db

URL = reverse("clinic_rules")


def post_data(clinic, **changes) -> dict:
    """What the browser sends for the page as shown (the clinic's current settings), with
    ``changes`` by field name (None: the field is left out, as an unticked box is)."""
    form = RuleSettingsForm(
        current=flag_selectors.clinic_rule_settings(clinic),
        scales=flag_selectors.clinic_rule_scales(clinic),
    )
    data = {}
    for name in form.fields:
        value = form.initial.get(name)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list):
            data[name] = value
        elif value is not None:
            data[name] = str(value)
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


@pytest.fixture
def admin_client(client, clinic_admin, instruments):
    client.force_login(clinic_admin)
    return client


def test_the_form_has_a_field_for_every_rule_and_parameter(admin_client):
    response = admin_client.get(URL)
    assert response.status_code == 200
    form = response.context["form"]
    for rule, defaults in DEFAULTS.items():
        for parameter in defaults:
            if parameter == "cutoffs":
                assert f"{rule}-cutoffs-client-total" in form.fields
                assert f"{rule}-cutoffs-therapist-bond" in form.fields
            else:
                assert f"{rule}-{parameter}" in form.fields
    html = response.content.decode()
    assert "Reliable drop" in html and "Client forms missing" in html
    assert "Default: 2.0." in html  # below_baseline.k
    assert "Default: Therapist higher only." in html
    assert "Jacobson &amp; Truax 1991" in html  # each rule says what it looks for


@pytest.mark.parametrize("role", ["therapist", "supervisor", "anonymous"])
def test_only_clinic_admins_open_the_page(client, role, request, instruments):
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    response = client.get(URL)
    assert response.status_code == (302 if role == "anonymous" else 404)
    assert client.post(URL, {}).status_code == (302 if role == "anonymous" else 404)


def test_another_clinics_admin_changes_only_their_own_clinic(
    client, clinic, other_clinic_admin, instruments
):
    client.force_login(other_clinic_admin)
    own = other_clinic_admin.clinic
    response = client.post(URL, post_data(own, **{"below_baseline-k": "1"}))
    assert response.status_code == 302
    clinic.refresh_from_db()
    own.refresh_from_db()
    assert clinic.rule_settings == {}
    assert own.rule_settings == {"below_baseline": {"k": 1.0}}


def test_saving_stores_only_what_differs_from_the_defaults(admin_client, clinic):
    data = post_data(
        clinic,
        **{
            "below_baseline-k": "1",
            "ceiling-enabled": None,
            "sudden_loss-cutoff": "0.8",
            "rater_discrepancy-scales": ["total", "bond"],
            "low_alliance-cutoffs-client-total": "3",
        },
    )
    response = admin_client.post(URL, data, follow=True)
    assert "Rule settings saved. The clinic&#x27;s flags are being recomputed" in (
        response.content.decode()
    )
    clinic.refresh_from_db()
    assert clinic.rule_settings == {
        "below_baseline": {"k": 1.0},
        "sudden_loss": {"cutoff": 0.8},
        "low_alliance": {"cutoffs": {"client": {"total": 3.0}}},
        "rater_discrepancy": {"scales": ["total", "bond"]},
        "ceiling": {"enabled": False},
    }
    # The page shows the saved values, and saving it unchanged stores the same.
    form = admin_client.get(URL).context["form"]
    assert form.initial["below_baseline-k"] == 1.0
    assert form.initial["ceiling-enabled"] is False
    admin_client.post(URL, post_data(clinic))
    clinic.refresh_from_db()
    assert clinic.rule_settings["below_baseline"] == {"k": 1.0}


def test_errors_show_next_to_their_fields_with_every_value_kept(admin_client, clinic):
    data = post_data(
        clinic,
        **{
            "below_baseline-k": "-1",
            "below_baseline-min_prior": "1",
            "sudden_loss-alpha": "0.5",
            "sudden_loss-pct": "1.5",
            "missing_forms-sessions": "three",
            "rater_discrepancy-threshold": "0",
            "ceiling-sessions": "4",
        },
    )
    response = admin_client.post(URL, data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {
        "below_baseline-k",
        "below_baseline-min_prior",
        "sudden_loss-alpha",
        "sudden_loss-pct",
        "missing_forms-sessions",
        "rater_discrepancy-threshold",
    }
    assert errors["below_baseline-k"] == ["Must be a number above 0 and at most 5, got -1.0"]
    assert "from 2 to 20" in errors["below_baseline-min_prior"][0]
    html = response.content.decode()
    for name, value in [
        ("below_baseline-k", "-1"),
        ("sudden_loss-alpha", "0.5"),
        ("missing_forms-sessions", "three"),
        ("ceiling-sessions", "4"),  # a valid change is kept too
    ]:
        assert f'name="{name}" value="{value}"' in html
    clinic.refresh_from_db()
    assert clinic.rule_settings == {}


def test_saving_recomputes_the_clinics_flags(
    admin_client,
    clinic,
    clinic_admin,
    client_of_therapist,
    instruments,
    django_capture_on_commit_callbacks,
):
    """Saving stores the settings and starts a job (sent once they are committed) that
    recomputes the flags; the admin is taken to its progress page."""
    course(client_of_therapist, instruments, client_totals=[4, 4, 4, 2], refresh=True)
    drop = Flag.objects.get(
        client=client_of_therapist, rule="reliable_drop", rater="client", scale="total"
    )
    changes = {"reliable_drop-enabled": None, "low_alliance-cutoffs-client-total": "2.5"}
    with django_capture_on_commit_callbacks(execute=True) as sent:
        response = admin_client.post(URL, post_data(clinic, **changes))
    assert len(sent) == 1
    job = Job.objects.get()
    assert (job.kind, job.requested_by, job.clinic) == ("flags_recompute", clinic_admin, clinic)
    assert response["Location"] == reverse("job_detail", args=[job.pk])
    job.refresh_from_db()
    assert job.state == "done" and job.result["clients"] == 1
    assert (job.done, job.total) == (1, 1)
    response = admin_client.get(response["Location"])
    assert "Flags recomputed for 1 clients" in response.content.decode()
    drop.refresh_from_db()
    assert drop.retired_at is not None
    low = Flag.objects.get(client=client_of_therapist, rule="low_alliance", scale="total")
    assert low.session.number == 4 and "below the cutoff 2.5" in low.explanation
    # Switched back on: the same flag returns.
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(URL, post_data(clinic, **{"reliable_drop-enabled": "on"}))
    drop.refresh_from_db()
    assert drop.retired_at is None


def test_the_service_checks_who_and_what(clinic, clinic_admin, therapist, instruments):
    with pytest.raises(ValidationError):
        flag_services.clinic_rule_settings_update(clinic=clinic, user=therapist, rule_settings={})
    with pytest.raises(ValidationError, match="Unknown rules"):
        flag_services.clinic_rule_settings_update(
            clinic=clinic, user=clinic_admin, rule_settings={"gut_feeling": {}}
        )
    with pytest.raises(ValidationError, match=r"below_baseline\.k"):
        flag_services.clinic_rule_settings_update(
            clinic=clinic, user=clinic_admin, rule_settings={"below_baseline": {"k": 0}}
        )
    assert Clinic.objects.get(pk=clinic.pk).rule_settings == {}


@pytest.mark.parametrize(
    "field",
    ["reliable_drop-repair_window", "below_baseline-repair_window", "sudden_loss-repair_window"],
)
def test_a_huge_window_is_a_form_error_and_changes_nothing(admin_client, clinic, field):
    """D1: 2**31 used to be saved, then broke every later rating of the clinic (500)."""
    response = admin_client.post(URL, post_data(clinic, **{field: str(2**31)}))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors[field] == ["Must be a whole number from 1 to 20, got 2147483648"]
    assert f'name="{field}" value="2147483648"' in response.content.decode()
    clinic.refresh_from_db()
    assert clinic.rule_settings == {}


def test_the_number_inputs_carry_the_bounds(admin_client):
    html = admin_client.get(URL).content.decode()
    assert 'name="reliable_drop-repair_window" value="3" min="1" max="20"' in html
    assert 'name="below_baseline-k" value="2.0" min="0" max="5" step="any"' in html
    assert 'name="sudden_loss-alpha" value="0.05" min="0" max="0.2" step="any"' in html


def test_the_service_stores_the_settings_and_leaves_the_flags_to_the_job(
    clinic, clinic_admin, client_of_therapist, instruments
):
    """One way to change the settings: the service stores them; the flags are recomputed by
    the page's job (above), never by the service."""
    course(client_of_therapist, instruments, client_totals=[4, 4, 4, 2], refresh=True)
    flags_before = set(Flag.objects.values_list("pk", "retired_at"))
    updated = flag_services.clinic_rule_settings_update(
        clinic=clinic, user=clinic_admin, rule_settings={"reliable_drop": {"enabled": False}}
    )
    assert updated.rule_settings == {"reliable_drop": {"enabled": False}}
    clinic.refresh_from_db()
    assert clinic.rule_settings == {"reliable_drop": {"enabled": False}}
    assert set(Flag.objects.values_list("pk", "retired_at")) == flags_before
    assert not Job.objects.exists()


def test_saving_while_the_queue_is_down_saves_and_says_to_try_again(
    admin_client, clinic, monkeypatch, django_capture_on_commit_callbacks
):
    """The settings are saved; the recomputation's job fails at once with "try again"
    (not a 500, nor a job waiting for hours)."""

    def unreachable(*args, **kwargs):
        raise KombuOperationalError("broker down")

    monkeypatch.setattr(tasks.job_run, "delay", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(URL, post_data(clinic, **{"reliable_drop-enabled": None}))
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert job.state == "failed" and "could not be started" in job.error
    clinic.refresh_from_db()
    assert clinic.rule_settings == {"reliable_drop": {"enabled": False}}
    html = admin_client.get(response["Location"]).content.decode()
    assert "try again in a few minutes" in html and "Try again" in html


def test_a_recomputation_that_fails_says_so_and_changes_no_flag(
    admin_client,
    clinic,
    client_of_therapist,
    instruments,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    """The page's job: the settings are saved, the job fails visibly (with a way to try
    again) and a batch that failed changed no flag."""
    course(client_of_therapist, instruments, client_totals=[4, 4, 4, 2], refresh=True)
    flags_before = set(Flag.objects.values_list("pk", "retired_at"))

    def fail(frame, config):
        Flag.objects.filter(client__clinic_id=clinic.pk).update(retired_at="2026-01-01T00:00Z")
        raise OverflowError("the engine broke")

    monkeypatch.setattr(flag_services, "detect", fail)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(URL, post_data(clinic, **{"reliable_drop-enabled": None}))
    html = admin_client.get(response["Location"]).content.decode()
    assert "Failed" in html and "Try again" in html
    assert "the engine broke" not in html
    clinic.refresh_from_db()
    assert clinic.rule_settings == {"reliable_drop": {"enabled": False}}
    assert set(Flag.objects.values_list("pk", "retired_at")) == flags_before
    assert Job.objects.get().state == "failed"
