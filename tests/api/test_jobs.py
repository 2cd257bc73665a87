"""Background jobs through the API (/api/v1/jobs/): ask (202 and Location), follow, fetch the
file (the same bytes as the streamed export; its requester only; 409 before, 410 after;
recorded as an export), a failed job says so and serves nothing; and what the streamed CSV
does when it fails midway."""

import datetime as dt
import io
import json

import pandas as pd
import pytest
from django.utils import timezone
from pandas.testing import assert_frame_equal

from alliance.interop import exports
from alliance.models import AccessEvent, Job
from tests.api.conftest import api_client_for

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs/"


def _ask(api, capture, **data):
    with capture(execute=True):
        return api.post(JOBS, data, format="json")


def test_a_csv_export_job_from_ask_to_file(
    world, api_as, therapist, django_capture_on_commit_callbacks
):
    api = api_as("therapist")
    with django_capture_on_commit_callbacks() as sent:
        response = api.post(JOBS, {"kind": "ratings_csv"}, format="json")
    assert response.status_code == 202
    job = Job.objects.get()
    assert response["Location"] == f"http://testserver/api/v1/jobs/{job.pk}/"
    body = response.json()
    assert (body["id"], body["kind"], body["state"], body["download_url"]) == (
        job.pk,
        "ratings_csv",
        "queued",
        None,
    )
    assert len(sent) == 1  # queued once the request's transaction commits
    assert api.get(f"{JOBS}{job.pk}/file/").status_code == 409  # not done yet

    sent[0]()  # the worker runs it
    status = api.get(response["Location"]).json()
    assert set(status) == {
        "id",
        "kind",
        "state",
        "done",
        "total",
        "percent",
        "result",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "expires_at",
        "download_url",
    }
    assert (status["state"], status["percent"], status["error"]) == ("done", 100, "")
    assert status["result"] == {"rows": status["total"]} and status["total"] > 0
    assert status["download_url"] == f"http://testserver/api/v1/jobs/{job.pk}/file/"

    file = api.get(status["download_url"])
    job.refresh_from_db()
    assert file.status_code == 200
    assert file["Content-Type"] == "text/csv; charset=utf-8"
    assert file["Content-Disposition"] == f'attachment; filename="{job.filename}"'
    streamed = api.get("/api/v1/exports/ratings.csv")
    assert b"".join(file.streaming_content) == b"".join(streamed.streaming_content)
    # Each request is recorded with its answer (the 409 above too), as the web download is.
    assert AccessEvent.objects.filter(url_name="api-job-file", status_code=409).count() == 1
    event = AccessEvent.objects.filter(url_name="api-job-file", status_code=200).get()
    assert (event.action, event.object_type, event.object_id, event.user, event.status_code) == (
        "export",
        "job",
        job.pk,
        therapist,
        200,
    )
    created = AccessEvent.objects.filter(url_name="api-job-list").get()
    assert (created.action, created.object_id) == ("create", job.pk)
    # The file answers in its own type whatever the client accepts.
    assert api.get(status["download_url"], HTTP_ACCEPT="text/csv").status_code == 200


def test_a_scoped_export_and_the_list_of_your_own_jobs(
    world, api_as, django_capture_on_commit_callbacks
):
    api = api_as("clinic_admin")
    response = _ask(
        api, django_capture_on_commit_callbacks, kind="ratings_xlsx", client=world.own.client.pk
    )
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.parameters["client"] == world.own.client.pk
    file = api.get(f"{JOBS}{job.pk}/file/")
    assert file["Content-Type"] == exports.XLSX_TYPE
    streamed = api.get(f"/api/v1/exports/ratings.xlsx?client={world.own.client.pk}")
    # The same workbook (its bytes carry the time it was written: compare what it holds).
    assert_frame_equal(
        pd.read_excel(io.BytesIO(b"".join(file.streaming_content))),
        pd.read_excel(io.BytesIO(streamed.content)),
    )

    _ask(api_as("therapist"), django_capture_on_commit_callbacks, kind="ratings_csv")
    listed = api.get(JOBS).json()
    assert listed["count"] == 1 and [row["id"] for row in listed["results"]] == [job.pk]


def test_a_fhir_bundle_job_is_a_clinic_admins(
    world, api_as, therapist, django_capture_on_commit_callbacks
):
    refused = _ask(api_as("therapist"), django_capture_on_commit_callbacks, kind="fhir_bundle")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert not Job.objects.exists()

    api = api_as("clinic_admin")
    response = _ask(api, django_capture_on_commit_callbacks, kind="fhir_bundle")
    assert response.status_code == 202
    file = api.get(f"{JOBS}{response.json()['id']}/file/")
    assert file["Content-Type"] == "application/fhir+json"
    bundle = json.loads(b"".join(file.streaming_content))
    assert bundle["resourceType"] == "Bundle" and bundle["entry"]

    # The clinic's bundle takes no scope.
    scoped = api.post(JOBS, {"kind": "fhir_bundle", "client": world.own.client.pk}, format="json")
    assert scoped.status_code == 400 and "client" in scoped.json()["error"]["fields"]


def test_bad_input_is_a_400_and_a_scope_outside_yours_a_404(world, api_as):
    api = api_as("therapist")
    for body in (
        {"kind": "report"},
        {},
        {"kind": "ratings_import"},
        {"kind": "ratings_csv", "client": 0},
    ):
        response = api.post(JOBS, body, format="json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid"
    outside = api.post(
        JOBS, {"kind": "ratings_csv", "client": world.other.client.pk}, format="json"
    )
    assert outside.status_code == 404 and outside.json()["error"]["code"] == "not_found"
    assert not Job.objects.exists()


def test_another_users_job_is_a_404_a_clinic_admins_too(
    world, api_as, clinic_admin, django_capture_on_commit_callbacks
):
    response = _ask(api_as("therapist"), django_capture_on_commit_callbacks, kind="ratings_csv")
    job_id = response.json()["id"]
    for role in ("clinic_admin", "other_therapist", "supervisor"):
        api = api_as(role)
        for path in (f"{JOBS}{job_id}/", f"{JOBS}{job_id}/file/"):
            answer = api.get(path)
            assert answer.status_code == 404, (role, path)
            assert answer.json()["error"]["code"] == "not_found"
        assert api.get(JOBS).json()["count"] == 0
    denied = AccessEvent.objects.filter(url_name="api-job-file", user=clinic_admin).get()
    assert denied.action == "denied"


def test_an_expired_file_answers_410(world, api_as, settings, django_capture_on_commit_callbacks):
    from alliance.jobs import services as job_services

    api = api_as("therapist")
    job_id = _ask(api, django_capture_on_commit_callbacks, kind="ratings_csv").json()["id"]
    Job.objects.filter(pk=job_id).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert api.get(f"{JOBS}{job_id}/").json()["download_url"] is None
    response = api.get(f"{JOBS}{job_id}/file/")  # not purged yet
    assert response.status_code == 410 and response.json()["error"]["code"] == "gone"
    job_services.job_files_purge()
    assert api.get(f"{JOBS}{job_id}/").json()["state"] == "expired"
    assert api.get(f"{JOBS}{job_id}/file/").status_code == 410


def test_a_failed_job_says_so_and_serves_no_file(
    world, api_as, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(ratings, progress=None):
        yield b"client_code\n"
        raise RuntimeError("secret details of the failure")

    monkeypatch.setattr(exports, "ratings_csv_chunks", broken)
    api = api_as("therapist")
    job_id = _ask(api, django_capture_on_commit_callbacks, kind="ratings_csv").json()["id"]
    status = api.get(f"{JOBS}{job_id}/").json()
    assert status["state"] == "failed" and status["download_url"] is None
    assert status["error"].startswith("Something went wrong and the job stopped")
    assert "secret" not in json.dumps(status)
    assert api.get(f"{JOBS}{job_id}/file/").status_code == 404


def test_a_failed_streamed_csv_is_cut_off_not_ended_cleanly(world, api_as, monkeypatch):
    """The streamed export has sent 200 before it fails: the generator's error propagates out
    of the response's iteration, so the server aborts the chunked transfer (no final empty
    chunk) and the client sees an incomplete body, never a clean end."""

    def broken(ratings, progress=None):
        yield b"client_code\n"
        raise RuntimeError("the database went away")

    monkeypatch.setattr(exports, "ratings_csv_chunks", broken)
    response = api_client_for(world.users["therapist"]).get("/api/v1/exports/ratings.csv")
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    assert next(chunks) == b"client_code\n"
    with pytest.raises(RuntimeError):
        next(chunks)


IMPORT_HEADER = (
    "client_code,session_number,session_date,rater,therapist,"
    "bond_1,goal_1,task_1,bond_2,goal_2,task_2,tension,comment\n"
)


def test_an_import_applied_in_the_background(
    world, api_as, clinic_admin, django_capture_on_commit_callbacks
):
    from measures.models import Rating

    api = api_as("clinic_admin")
    url = "/api/v1/imports/ratings/?dry_run=false&background=true"
    day = timezone.localdate().isoformat()  # after the course's unrated session 2
    bad = IMPORT_HEADER + f"OWN-1,3,{day},client,therapist,4,4,4,4,4,9,no,\n"
    refused = api.post(url, data=bad.encode(), content_type="text/csv")
    assert refused.status_code == 400 and "row 2: task_2" in refused.json()["error"]["fields"]
    assert not Job.objects.exists()
    # A background import applies the file: not with a dry run (the default).
    dry = api.post(
        "/api/v1/imports/ratings/?background=true", data=bad.encode(), content_type="text/csv"
    )
    assert dry.status_code == 400 and "background" in dry.json()["error"]["fields"]

    ratings = Rating.objects.count()
    good = IMPORT_HEADER + f"OWN-1,3,{day},client,therapist,4,4,4,4,4,4,no,\n"
    with django_capture_on_commit_callbacks() as sent:
        response = api.post(url, data=good.encode(), content_type="text/csv")
    assert response.status_code == 202, response.json()
    job = Job.objects.get()
    assert response["Location"] == f"http://testserver/api/v1/jobs/{job.pk}/"
    assert (job.kind, job.state, response.json()["id"]) == ("ratings_import", "queued", job.pk)
    assert Rating.objects.count() == ratings  # checked only, so far
    # Recorded as the import's create, without taking the job's id for a rating's.
    event = AccessEvent.objects.filter(url_name="api-import-ratings", status_code=202).get()
    assert (event.action, event.object_type, event.object_id, event.status_code) == (
        "create",
        "rating",
        None,
        202,
    )

    sent[0]()
    status = api.get(response["Location"]).json()
    assert status["state"] == "done" and status["result"]["ratings"] == 1
    assert status["download_url"] is None  # an import makes no file
    assert Rating.objects.count() == ratings + 1
    assert api.get(f"{JOBS}{job.pk}/file/").status_code == 404
