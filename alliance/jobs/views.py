"""Pages of background jobs: the Exports page (start a ratings export or the clinic's FHIR
bundle, list your recent jobs), the ratings import (check now, apply as a job), a job's
progress page with its status as JSON for the progress bar, its download and "try again".

A job is its requester's only, while they are active and still in the job's clinic: anyone
else, a clinic admin of the same clinic included, gets 404 (``_own_job``). The download is
recorded as an export (alliance.security.audit).
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from alliance.interop import imports
from alliance.jobs import services as job_services
from alliance.models import Job

RECENT_JOBS = 20
# The checked files this user may still apply (names in the jobs directory), newest last;
# the page's Apply form names one of them, signed (IMPORT_SALT, with the user's id), so that
# Apply imports the file shown on that page, whatever another tab checked since.
IMPORT_UPLOADS = "ratings_import_uploads"
IMPORT_SALT = "alliance.jobs.ratings_import"
IMPORT_KEPT = 10


class ExportStartForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Export"),
        choices=[
            (Job.Kind.RATINGS_CSV, gettext_lazy("Ratings, CSV")),
            (Job.Kind.RATINGS_XLSX, gettext_lazy("Ratings, Excel")),
            (Job.Kind.FHIR_BUNDLE, gettext_lazy("The clinic's ratings as a FHIR R4 bundle")),
        ],
        initial=Job.Kind.RATINGS_CSV,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["kind"]
        field.choices = [
            c for c in field.choices if job_services.job_kind_allowed(user=user, kind=c[0])
        ]


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy("UTF-8 CSV, one row per rating (see the format in the docs)."),
    )


def _clinic_user(request: HttpRequest):
    user = request.user
    if not (user.is_active and user.clinic_id):
        raise Http404("Jobs are for people of a clinic.")
    return user


def _clinic_admin(request: HttpRequest):
    user = _clinic_user(request)
    if not user.is_clinic_admin:
        raise Http404("For clinic admins.")
    return user


def _own_job(request: HttpRequest, job_id: int) -> Job:
    """The job, if the signed-in user asked for it and is still active in its clinic; 404
    for anyone else (a requester moved to another clinic or deactivated included)."""
    return job_services.job_get_own(_clinic_user(request), job_id)


def _upload_reference(user, name: str) -> str:
    return signing.dumps({"user": user.pk, "file": name}, salt=IMPORT_SALT)


def _upload_named(request: HttpRequest, user) -> str | None:
    """The checked file the Apply form names (its signed reference); None if the reference
    is not one this site gave this user."""
    try:
        data = signing.loads(request.POST.get("upload", ""), salt=IMPORT_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("user") != user.pk:
        return None
    name = data.get("file")
    return name if isinstance(name, str) else None


@login_required
def exports_page(request: HttpRequest) -> HttpResponse:
    """Start an export of everything in your scope; your recent jobs."""
    user = _clinic_user(request)
    form = ExportStartForm(request.POST or None, user=user)
    if request.method == "POST":
        if form.is_valid():
            job = job_services.job_create(kind=form.cleaned_data["kind"], user=user)
            return redirect(job)
        status = 400
    else:
        status = 200
    jobs = job_services.jobs_of(user)[:RECENT_JOBS]
    return render(
        request, "alliance/jobs/exports.html", {"form": form, "jobs": jobs}, status=status
    )


@login_required
def ratings_import(request: HttpRequest) -> HttpResponse:
    """Upload a CSV and see every problem by row (nothing written); apply a clean file as a
    job. The checked file is kept (job files directory) for the apply, named in the
    user's session."""
    user = _clinic_admin(request)
    if request.method == "POST" and request.POST.get("action") == "apply":
        name = _upload_named(request, user)
        if name is None:
            return render(
                request,
                "alliance/jobs/import.html",
                {
                    "form": ImportUploadForm(),
                    "report": None,
                    "apply_error": _(
                        "This import could not be applied: the page did not name a file you "
                        "checked. Please check the file again."
                    ),
                },
                status=400,
            )
        pending = request.session.get(IMPORT_UPLOADS, [])
        try:
            kept = name in pending and job_services.job_file_path(name).is_file()
        except ValueError:
            kept = False
        if name in pending:
            request.session[IMPORT_UPLOADS] = [n for n in pending if n != name]  # applied once
        if not kept:
            messages.error(request, _("Please upload the file again: it is no longer kept."))
            return redirect("ratings_import")
        job = job_services.job_create(kind=Job.Kind.RATINGS_IMPORT, user=user, input_file=name)
        return redirect(job)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    report = None
    reference = ""
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            text = None
            try:
                text = imports.csv_text(form.cleaned_data["file"].read(imports.MAX_BYTES + 1))
            except ValueError as exc:
                form.add_error("file", str(exc))
            if text is not None:
                try:
                    report = imports.ratings_import_check(clinic=user.clinic, text=text)
                except imports.ImportRejected as rejected:
                    report = rejected.report
                if not report.problems:
                    name = job_services.job_upload_store(text=text)
                    pending = request.session.get(IMPORT_UPLOADS, [])
                    request.session[IMPORT_UPLOADS] = [*pending, name][-IMPORT_KEPT:]
                    reference = _upload_reference(user, name)
                    status = 200
    return render(
        request,
        "alliance/jobs/import.html",
        {"form": form, "report": report, "upload_reference": reference},
        status=status,
    )


@login_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _own_job(request, job_id)
    return render(request, "alliance/jobs/job.html", {"job": job, **_job_context(job)})


def _job_context(job: Job) -> dict:
    return {
        "available": job.file_available(),
        "progress_text": progress_text(job),
        "error_text": job_services.job_error_text(job),
        "problems": job.result.get("problems", [])[:200] if job.state == Job.State.FAILED else [],
    }


def progress_text(job: Job) -> str:
    """ "40% · 2,000 of 5,000 rows" (clients, for recomputing flags; ratings, for FHIR)."""
    if job.state == Job.State.QUEUED:
        return _("Waiting for a worker to start it…")
    if job.percent is None or job.total is None:
        return _("Working…")
    numbers = {"percent": job.percent, "done": f"{job.done:,}", "total": f"{job.total:,}"}
    if job.kind == Job.Kind.FLAGS_RECOMPUTE:
        return _("%(percent)s%% · %(done)s of %(total)s clients") % numbers
    if job.kind == Job.Kind.FHIR_BUNDLE:
        return _("%(percent)s%% · %(done)s of %(total)s ratings") % numbers
    if job.kind == Job.Kind.RATINGS_XLSX:  # two steps a row (exports.ratings_xlsx)
        numbers["rows"] = f"{job.total // 2:,}"
        return _("%(percent)s%% · %(rows)s rows, read then written into the workbook") % numbers
    return _("%(percent)s%% · %(done)s of %(total)s rows") % numbers


@login_required
def job_status(request: HttpRequest, job_id: int) -> JsonResponse:
    """What the progress bar needs, polled by static/js/jobs/progress.js."""
    job = _own_job(request, job_id)
    return JsonResponse(
        {
            "state": job.state,
            "state_label": job.get_state_display(),
            "done": job.done,
            "total": job.total,
            "percent": job.percent,
            "finished": job.finished,
            "text": progress_text(job),
        }
    )


@login_required
def job_download(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job's file, for its requester while it is kept (410 after; 404 before it is done
    or for a job that makes no file)."""
    job = _own_job(request, job_id)
    try:
        handle = job_services.job_file_open(job=job)
    except job_services.JobFileGone:
        return render(request, "alliance/jobs/expired.html", {"job": job}, status=410)
    return FileResponse(
        handle, as_attachment=True, filename=job.filename, content_type=job.content_type
    )


@login_required
@require_POST
def job_retry(request: HttpRequest, job_id: int) -> HttpResponse:
    """A failed job asked for again (a new job: the failed one stays as it was)."""
    job = _own_job(request, job_id)
    if job.state != Job.State.FAILED:
        return redirect(job)
    if job.kind in job_services.ADMIN_KINDS:
        _clinic_admin(request)
    else:
        _clinic_user(request)
    try:
        if job.kind == Job.Kind.RATINGS_IMPORT and not job.input_file:
            raise FileNotFoundError("Purged with the job's details.")
        again = job_services.job_again(job=job)
    except (ValueError, FileNotFoundError):
        messages.error(request, _("The uploaded file is no longer kept; please upload it again."))
        return redirect("ratings_import")
    return redirect(again)
