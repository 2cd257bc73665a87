"""What the two schemathesis runs share (tests/api/test_schemathesis.py: every operation keeps
its schema; tests/security/test_fuzz_api.py: a rejected write writes nothing): the in-process
WSGI app's schema, one run per operation plus one on an object the user owns, and a bounded,
deterministic hypothesis run of each. The user is tests/conftest.py's ``demo`` fixture."""

import contextlib
from collections.abc import Callable, Iterator

import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token


@contextlib.contextmanager
def api_schema() -> Iterator:
    """The API's schema against the in-process WSGI app, with the test's database connection
    kept open across requests, as Django's test client does: the WSGI handler would
    otherwise close it at the end of every request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _path_parameters(operation) -> list[str]:
    return [p.name for p in operation.iter_parameters() if p.location == "path"]


def _owned_ids(user) -> dict[str, int]:
    """For each path with an id: an object of the demo therapist's."""
    from alliance.models import Client, Episode
    from measures.models import Rating
    from sessions.models import TherapySession

    client = Client.objects.filter(primary_therapist=user).order_by("code").first()
    session = TherapySession.objects.filter(client=client, status="completed").last()
    rating = Rating.objects.filter(session=session, rater="therapist").get()
    episode = Episode.objects.visible_to(user).active().filter(kind="rupture").first()
    flag = episode.flags.active().first()
    job = _done_export(user)
    return {
        "/api/v1/clients/{id}/": client.pk,
        "/api/v1/clients/{id}/series/": client.pk,
        "/api/v1/clients/{id}/transfer/": client.pk,
        "/api/v1/clients/{client_id}/fhir/": client.pk,
        "/api/v1/exports/clients/{client_id}/record.xlsx": client.pk,
        "/api/v1/sessions/{id}/": session.pk,
        "/api/v1/sessions/{id}/form-link/": session.pk,
        "/api/v1/ratings/{id}/": rating.pk,
        "/api/v1/instruments/{id}/": rating.instrument_id,
        "/api/v1/episodes/{id}/": episode.pk,
        "/api/v1/episodes/{id}/acknowledge/": episode.pk,
        "/api/v1/episodes/{id}/resolve/": episode.pk,
        "/api/v1/episodes/{id}/comments/": episode.pk,
        "/api/v1/flags/{id}/": flag.pk,
        "/api/v1/jobs/{id}/": job.pk,
        "/api/v1/jobs/{id}/file/": job.pk,
    }


def _done_export(user):
    """A done ratings export of the user's, its file kept (alliance.jobs)."""
    import datetime as dt

    from django.utils import timezone

    from alliance.jobs import services as job_services
    from alliance.models import Job

    name = job_services.job_file_write(
        job_id=None, suffix=".csv", write=lambda out: out.write(b"client_code\n")
    )
    return Job.objects.create(
        kind=Job.Kind.RATINGS_CSV,
        clinic=user.clinic,
        requested_by=user,
        state=Job.State.DONE,
        file=name,
        filename="ratings.csv",
        content_type="text/csv; charset=utf-8",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )


def operation_runs(operations, user) -> list[tuple]:
    """(operation, path parameters): each operation once with generated parameters, and
    each operation with a path parameter again on one of ``user``'s objects."""
    owned = _owned_ids(user)
    runs = [(operation, None) for operation in operations]
    runs += [
        (operation, {name: owned[operation.path]})
        for operation in operations
        for name in _path_parameters(operation)
        if operation.path in owned
    ]
    return runs


def run_each(runs, user, *, examples: int, check: Callable) -> list[str]:
    """``examples`` generated cases of each run, sent with ``user``'s token, each passed with
    its response to ``check`` (which raises on a failure); every run's failure, collected."""
    failures = []
    for operation, path_parameters in runs:

        @settings(
            max_examples=examples,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(path_parameters=path_parameters))
        def run(case):
            # A generated DELETE of /auth/token/ revokes the token: issue it again.
            token, _ = Token.objects.get_or_create(user=user)
            check(case, {"Authorization": f"Token {token.key}"})

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report
            failures.append(f"{operation.label}: {exc}")
    return failures
