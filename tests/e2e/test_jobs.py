"""A background job's page in Chromium: its script (static/js/jobs/progress.js) moves the
progress bar as the job reports, then reloads the page to offer the file, within the
Content-Security-Policy (no console error)."""

import pytest

from alliance.jobs import services as job_services
from alliance.models import Job
from tests.e2e.conftest import log_in
from tests.e2e.test_csp import PASSWORD, watch
from tests.factories import ClientFactory, TherapistFactory, TherapySessionFactory, rating_of


@pytest.mark.django_db(transaction=True)
def test_the_progress_bar_follows_the_job_then_offers_the_file(page, instruments, screenshot):
    therapist = TherapistFactory(username="job-therapist")
    session = TherapySessionFactory(client=ClientFactory(primary_therapist=therapist))
    rating_of(session, instruments["client"])
    job = Job.objects.create(
        kind=Job.Kind.RATINGS_CSV, clinic=therapist.clinic, requested_by=therapist
    )
    problems = watch(page)
    log_in(page, "job-therapist", PASSWORD)
    page.get_by_role("heading", name="Caseload").wait_for()

    page.goto(f"/jobs/{job.pk}/")
    page.get_by_text("Waiting for a worker to start it").wait_for()
    # A worker takes it and reports 2 rows of 5: the bar moves without a reload.
    Job.objects.filter(pk=job.pk).update(state=Job.State.RUNNING, done=2, total=5)
    page.get_by_text("40% · 2 of 5 rows").wait_for()
    assert page.locator("#job-progress").get_attribute("value") == "40"
    screenshot(page, "running")

    # The job runs to its end: the page reloads itself and offers the file.
    Job.objects.filter(pk=job.pk).update(state=Job.State.QUEUED, done=0, total=None)
    job_services.job_run(job_id=job.pk)
    download = page.get_by_role("link", name="Download")
    download.wait_for()
    screenshot(page, "done")
    with page.expect_download() as got:
        download.click()
    assert got.value.suggested_filename.endswith(".csv")
    assert problems == [], problems
