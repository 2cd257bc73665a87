"""The pages of background jobs: the Exports page, a job's progress page and its status as
JSON, the download (its requester only, while kept, recorded), "try again", and the ratings
import (checked now, applied as a job)."""

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from alliance.interop import exports
from alliance.jobs import services as job_services
from alliance.jobs import tasks
from alliance.jobs.views import progress_text
from alliance.models import AccessEvent, Job
from measures.models import Rating
from tests.factories import ClientFactory, ClinicFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db

EXPORTS = reverse("exports")
IMPORT = reverse("ratings_import")


@pytest.fixture
def ratings(therapist, instruments):
    client = ClientFactory(primary_therapist=therapist, code="OWN-1")
    session = TherapySessionFactory(client=client, number=1)
    rating_of(session, instruments["client"], refresh_flags=False)
    return client


@pytest.fixture
def browser(client, therapist):
    client.force_login(therapist)
    return client


def test_starting_an_export_queues_a_job_and_shows_its_progress(
    browser, therapist, ratings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as sent:
        response = browser.post(EXPORTS, {"kind": "ratings_csv"})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert (job.state, job.kind, job.requested_by) == ("queued", "ratings_csv", therapist)
    assert len(sent) == 1  # sent to the queue once the request's transaction commits

    html = browser.get(job.get_absolute_url()).content.decode()
    assert '<progress id="job-progress" max="100"' in html
    assert "Waiting for a worker" in html
    assert 'src="/static/js/jobs/progress.js"' in html
    assert "<script>" not in html  # no inline script (CSP)
    assert reverse("job_detail", args=[job.pk]) in html  # the Refresh link, without JS

    # Running, half way (as a worker that then died left it: no heartbeat).
    Job.objects.filter(pk=job.pk).update(state="running", done=1, total=4)
    html = browser.get(job.get_absolute_url()).content.decode()
    assert 'value="25"' in html and "25% · 1 of 4 rows" in html

    sent[0]()  # the worker runs it
    html = browser.get(job.get_absolute_url()).content.decode()
    assert reverse("job_download", args=[job.pk]) in html
    assert "kept for you only" in html
    assert "progress.js" not in html  # nothing left to poll


def test_the_status_json(browser, therapist, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        job = job_services.job_create(kind="flags_recompute", user=therapist)
    url = reverse("job_status", args=[job.pk])
    assert browser.get(url).json() == {
        "state": "queued",
        "state_label": "Waiting to start",
        "done": 0,
        "total": None,
        "percent": None,
        "finished": False,
        "text": "Waiting for a worker to start it…",
    }
    job_services.job_start(job_id=job.pk)
    Job.objects.filter(pk=job.pk).update(done=1200, total=4800)
    status = browser.get(url).json()
    assert (status["state"], status["percent"], status["finished"]) == ("running", 25, False)
    assert status["text"] == "25% · 1,200 of 4,800 clients"
    job_services.job_fail(job_id=job.pk)
    status = browser.get(url).json()
    assert (status["state"], status["finished"]) == ("failed", True)


def test_the_exports_page_lists_only_your_own_jobs(
    browser, therapist, other_therapist, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        mine = job_services.job_create(kind="ratings_csv", user=therapist)
        theirs = job_services.job_create(kind="ratings_xlsx", user=other_therapist)
    response = browser.get(EXPORTS)
    assert list(response.context["jobs"]) == [mine]
    html = response.content.decode()
    assert reverse("job_detail", args=[mine.pk]) in html
    assert reverse("job_detail", args=[theirs.pk]) not in html
    # A therapist is not offered the clinic's FHIR bundle, and cannot ask for it.
    assert 'value="fhir_bundle"' not in html
    response = browser.post(EXPORTS, {"kind": "fhir_bundle"})
    assert response.status_code == 400 and Job.objects.count() == 2


def test_the_download_is_its_requesters_only_and_recorded(
    client, therapist, clinic_admin, ratings, django_capture_on_commit_callbacks
):
    client.force_login(therapist)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(EXPORTS, {"kind": "ratings_csv"})
    job = Job.objects.get()
    url = reverse("job_download", args=[job.pk])
    response = client.get(url)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    expected = exports.ratings_response(therapist, exports.ExportScope(), "csv")
    assert body == b"".join(expected.streaming_content)
    assert response["Content-Disposition"] == f'attachment; filename="{job.filename}"'
    event = AccessEvent.objects.filter(url_name="job_download").get()
    assert (event.action, event.object_type, event.object_id, event.user) == (
        "export",
        "job",
        job.pk,
        therapist,
    )

    # Anyone else, the clinic's admin included: 404, and every page of the job too.
    client.force_login(clinic_admin)
    for name in ("job_download", "job_detail", "job_status"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404
    assert client.post(reverse("job_retry", args=[job.pk])).status_code == 404
    denied = AccessEvent.objects.filter(url_name="job_download", user=clinic_admin).get()
    assert denied.action == "denied"


def test_an_expired_file_is_gone_with_a_clear_page(
    browser, therapist, ratings, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(EXPORTS, {"kind": "ratings_csv"})
    job = Job.objects.get()
    url = reverse("job_download", args=[job.pk])
    # Past its time (the login would not last the day: the job's clock is moved instead).
    Job.objects.filter(pk=job.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    response = browser.get(url)  # not purged yet
    assert response.status_code == 410
    assert "no longer kept" in response.content.decode()
    assert job_services.job_files_purge()["expired"] == 1
    assert browser.get(url).status_code == 410
    assert "the file has been deleted" in browser.get(job.get_absolute_url()).content.decode()
    assert settings.ALLIANCE_JOB_FILES_DIR.exists() and not any(
        settings.ALLIANCE_JOB_FILES_DIR.iterdir()
    )


def test_a_failed_export_says_so_offers_to_try_again_and_has_no_file(
    browser, therapist, ratings, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(ratings, progress=None):
        yield b"client_code\n"
        raise RuntimeError("secret details of the failure")

    monkeypatch.setattr(exports, "ratings_csv_chunks", broken)
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(EXPORTS, {"kind": "ratings_csv"})
    job = Job.objects.get()
    html = browser.get(job.get_absolute_url()).content.decode()
    assert "Failed" in html and "Something went wrong and the job stopped" in html
    assert "secret details" not in html
    assert browser.get(reverse("job_download", args=[job.pk])).status_code == 404
    assert "Failed" in browser.get(EXPORTS).content.decode()  # listed as failed

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(reverse("job_retry", args=[job.pk]))
    again = Job.objects.exclude(pk=job.pk).get()
    assert response["Location"] == again.get_absolute_url()
    assert (again.kind, again.state) == ("ratings_csv", "done")
    job.refresh_from_db()
    assert job.state == "failed"  # the failed one stays as it was


def test_import_check_then_apply_as_a_job(
    client, clinic_admin, client_of_therapist, instruments, django_capture_on_commit_callbacks
):
    client.force_login(clinic_admin)
    header = (
        "client_code,session_number,session_date,rater,therapist,"
        "bond_1,goal_1,task_1,bond_2,goal_2,task_2,tension,comment\n"
    )
    day = (timezone.localdate() - dt.timedelta(days=2)).isoformat()
    bad = header + f"R-0001,1,{day},client,therapist,4,4,4,4,4,9,no,\n"
    response = client.post(
        IMPORT, {"action": "check", "file": SimpleUploadedFile("r.csv", bad.encode())}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "The file has 1 problem; nothing was imported" in html
    assert "Apply" not in html

    good = header + f"R-0001,1,{day},client,therapist,4,4,4,4,4,4,no,\n"
    response = client.post(
        IMPORT, {"action": "check", "file": SimpleUploadedFile("r.csv", good.encode())}
    )
    assert response.status_code == 200
    assert "1 rows: 1 ratings; 1 sessions will be created" in response.content.decode()
    assert Rating.objects.count() == 0  # checked only
    apply = {"action": "apply", "upload": response.context["upload_reference"]}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(IMPORT, apply)
    job = Job.objects.get()
    assert response["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert (job.kind, job.state) == ("ratings_import", "done")
    assert Rating.objects.filter(session__client=client_of_therapist).count() == 1
    html = client.get(job.get_absolute_url()).content.decode()
    assert "Imported 1 ratings from 1 rows, for 1 clients" in html

    # Applying twice imports once: the checked file went with the first job.
    response = client.post(IMPORT, apply, follow=True)
    assert "Please upload the file again" in response.content.decode()
    assert Job.objects.count() == 1


HEADER = (
    "client_code,session_number,session_date,rater,therapist,"
    "bond_1,goal_1,task_1,bond_2,goal_2,task_2,tension,comment\n"
)


def _checked(client, text: str) -> str:
    response = client.post(
        IMPORT, {"action": "check", "file": SimpleUploadedFile("r.csv", text.encode())}
    )
    assert response.status_code == 200
    reference = response.context["upload_reference"]
    assert f'name="upload" value="{reference}"' in response.content.decode()
    return reference


def test_apply_imports_the_file_checked_on_that_page(
    client, clinic_admin, client_of_therapist, instruments, django_capture_on_commit_callbacks
):
    """Two tabs: a file checked in one, another in the other; each Apply imports its own."""
    client.force_login(clinic_admin)
    day = (timezone.localdate() - dt.timedelta(days=2)).isoformat()
    first = _checked(client, HEADER + f"R-0001,1,{day},client,therapist,2,2,2,2,2,2,no,\n")
    _second = _checked(client, HEADER + f"R-0001,1,{day},client,therapist,5,5,5,5,5,5,no,\n")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(IMPORT, {"action": "apply", "upload": first})
    rating = Rating.objects.get(session__client=client_of_therapist)
    assert set(rating.answers.values_list("value", flat=True)) == {2.0}


def test_apply_refuses_a_reference_it_did_not_give(
    client, clinic_admin, other_clinic_admin, client_of_therapist, instruments
):
    client.force_login(clinic_admin)
    day = (timezone.localdate() - dt.timedelta(days=2)).isoformat()
    reference = _checked(client, HEADER + f"R-0001,1,{day},client,therapist,4,4,4,4,4,4,no,\n")
    for bad in ("", "not-signed", reference[:-2] + "xx"):
        response = client.post(IMPORT, {"action": "apply", "upload": bad})
        assert response.status_code == 400
        assert "the page did not name a file you checked" in response.content.decode()
    # Another admin's page (a reference signed for someone else).
    client.force_login(other_clinic_admin)
    response = client.post(IMPORT, {"action": "apply", "upload": reference})
    assert response.status_code == 400
    assert Job.objects.count() == 0


def test_a_requester_moved_or_deactivated_no_longer_has_the_job(
    client, therapist, ratings, django_capture_on_commit_callbacks
):
    client.force_login(therapist)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(EXPORTS, {"kind": "ratings_csv"})
    job = Job.objects.get()
    url = reverse("job_download", args=[job.pk])
    assert client.get(url).status_code == 200
    therapist.clinic = ClinicFactory(name="Hillside Practice")
    therapist.save()
    for name in ("job_download", "job_detail", "job_status"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404
    therapist.clinic = job.clinic
    therapist.is_active = False
    therapist.save()
    client.force_login(therapist)  # a session that outlived the deactivation
    assert client.get(url).status_code in (302, 404)


@pytest.mark.parametrize("error", [OperationalError("broker down"), ConnectionRefusedError()])
def test_a_queue_that_cannot_be_reached_fails_the_job_with_try_again(
    browser, therapist, ratings, monkeypatch, django_capture_on_commit_callbacks, error
):
    """Not a 500, nor a job waiting hours: the job's page says to try again."""

    def unreachable(*args, **kwargs):
        raise error

    monkeypatch.setattr(tasks.job_run, "delay", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(EXPORTS, {"kind": "ratings_csv"})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert job.state == "failed" and "could not be started" in job.error
    html = browser.get(job.get_absolute_url()).content.decode()
    assert "try again in a few minutes" in html and "Try again" in html

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(reverse("job_retry", args=[job.pk]))
    assert Job.objects.exclude(pk=job.pk).get().state == "done"


def test_an_import_applied_while_the_queue_is_down_fails_with_try_again(
    client,
    clinic_admin,
    client_of_therapist,
    instruments,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    client.force_login(clinic_admin)
    day = (timezone.localdate() - dt.timedelta(days=2)).isoformat()
    reference = _checked(client, HEADER + f"R-0001,1,{day},client,therapist,4,4,4,4,4,4,no,\n")

    def unreachable(*args, **kwargs):
        raise OperationalError("broker down")

    monkeypatch.setattr(tasks.job_run, "delay", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(IMPORT, {"action": "apply", "upload": reference})
    job = Job.objects.get()
    assert response["Location"] == job.get_absolute_url()
    assert job.state == "failed" and "could not be started" in job.error
    assert job.input_file  # kept for "Try again"
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("job_retry", args=[job.pk]))
    assert Rating.objects.filter(session__client=client_of_therapist).count() == 1


def test_import_refuses_what_is_not_utf8_text(client, clinic_admin, instruments):
    client.force_login(clinic_admin)
    response = client.post(
        IMPORT, {"action": "check", "file": SimpleUploadedFile("r.csv", b"\xff\xfe\x00a")}
    )
    assert response.status_code == 400
    assert "not UTF-8 text" in response.content.decode()


def test_the_navigation_links_exports_and_the_import(client, therapist, clinic_admin):
    client.force_login(therapist)
    nav = client.get(EXPORTS).content.decode()
    assert f'href="{EXPORTS}"' in nav and f'href="{IMPORT}"' not in nav
    assert client.get(IMPORT).status_code == 404
    client.force_login(clinic_admin)
    nav = client.get(EXPORTS).content.decode()
    assert f'href="{IMPORT}"' in nav
    assert re.search(r'value="fhir_bundle"', nav)


def test_a_failed_import_shows_its_problems_and_asks_for_a_corrected_file(
    client, clinic_admin, client_of_therapist, instruments, django_capture_on_commit_callbacks
):
    """The data changed between the check and the apply: the job fails with the report."""
    client.force_login(clinic_admin)
    upload = job_services.job_upload_store(
        text="client_code,session_number,rater,bond_1\nNO-SUCH-CLIENT,1,client,4\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = job_services.job_create(kind="ratings_import", user=clinic_admin, input_file=upload)
    html = client.get(job.get_absolute_url()).content.decode()
    assert "The file has problems; nothing was imported." in html
    assert '<td class="num" data-label="Row">2</td>' in html  # the problem, by row
    assert reverse("ratings_import") in html and "Upload a corrected file" in html
    assert Rating.objects.count() == 0

    # Expired: the problems (which may name a client) are gone; "Try again" asks for the file.
    job.refresh_from_db()
    job_services.job_files_purge(now=job.expires_at)
    html = client.get(job.get_absolute_url()).content.decode()
    assert "NO-SUCH-CLIENT" not in html and "Try again" in html
    response = client.post(reverse("job_retry", args=[job.pk]), follow=True)
    assert "The uploaded file is no longer kept" in response.content.decode()
    assert Job.objects.count() == 1


def test_an_excel_export_says_its_rows_not_its_steps(therapist):
    job = Job.objects.create(
        kind=Job.Kind.RATINGS_XLSX,
        clinic=therapist.clinic,
        requested_by=therapist,
        state=Job.State.RUNNING,
        done=3_000,
        total=4_000,
    )
    assert progress_text(job) == "75% · 2,000 rows, read then written into the workbook"
