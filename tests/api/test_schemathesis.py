"""Property-based run of every operation in /api/schema/ against the in-process WSGI app,
as a demo therapist: no 5xx, and every response matches the schema (status, content type,
body). Bounded and deterministic (derandomize)."""

import contextlib
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

EXAMPLES_PER_OPERATION = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@contextlib.contextmanager
def _in_test_transaction():
    """Keep the test's database connection open across requests, as Django's test client
    does: the WSGI handler would otherwise close it at the end of every request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def demo(instruments):
    from alliance.demo import demo_seed
    from alliance.models import User

    demo_seed()
    return User.objects.get(username="demo-therapist")


def _path_parameters(operation) -> list[str]:
    return [p.name for p in operation.iter_parameters() if p.location == "path"]


def _owned_ids(user) -> dict[str, int]:
    """For each path with an id: an object of the demo therapist's."""
    from alliance.models import Client
    from measures.models import Rating
    from sessions.models import TherapySession

    client = Client.objects.filter(primary_therapist=user).order_by("code").first()
    session = TherapySession.objects.filter(client=client, status="completed").last()
    rating = Rating.objects.filter(session=session, rater="therapist").get()
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
    }


def test_the_api_keeps_its_schema_under_generated_input(demo):
    app = get_wsgi_application()
    with _in_test_transaction():
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 29
        failures = []
        statuses: list[int] = []
        owned = _owned_ids(demo)
        runs = [(operation, None) for operation in operations]
        # Each operation with a path parameter runs again on one of the therapist's objects.
        runs += [
            (operation, {name: owned[operation.path]})
            for operation in operations
            for name in _path_parameters(operation)
            if operation.path in owned
        ]
        for operation, path_parameters in runs:

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(path_parameters=path_parameters))
            def run(case):
                # A generated DELETE of /auth/token/ revokes the token: issue it again.
                token, _ = Token.objects.get_or_create(user=demo)
                response = case.call_and_validate(
                    headers={"Authorization": f"Token {token.key}"}, checks=CHECKS
                )
                statuses.append(response.status_code)

            try:
                run()
            except Exception as exc:  # collect every operation's failure, then report
                failures.append(f"{operation.label}: {exc}")
        assert not failures, "\n\n".join(failures)
        # Generated input reaches real objects too, not only 4xx answers.
        assert len(statuses) >= 4 * len(runs)
        assert sum(200 <= status < 300 for status in statuses) >= len(operations)
        # Shown with `pytest -s`: how much the run exercised.
        print(f"schemathesis: {len(runs)} runs, {len(statuses)} examples, {Counter(statuses)}")
