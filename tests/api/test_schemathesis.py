"""Property-based run of every operation in /api/schema/ against the in-process WSGI app,
as a demo therapist: no 5xx, and every response matches the schema (status, content type,
body). Bounded and deterministic (derandomize)."""

from collections import Counter

import pytest
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.schemathesis_support import api_schema, operation_runs, run_each

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

EXAMPLES_PER_OPERATION = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_api_keeps_its_schema_under_generated_input(demo):
    with api_schema() as schema:
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 29
        statuses: list[int] = []
        # Each operation with a path parameter runs again on one of the therapist's objects.
        runs = operation_runs(operations, demo)

        def check(case, headers):
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses.append(response.status_code)

        failures = run_each(runs, demo, examples=EXAMPLES_PER_OPERATION, check=check)
        assert not failures, "\n\n".join(failures)
        # Generated input reaches real objects too, not only 4xx answers.
        assert len(statuses) >= 4 * len(runs)
        assert sum(200 <= status < 300 for status in statuses) >= len(operations)
        # Shown with `pytest -s`: how much the run exercised.
        print(f"schemathesis: {len(runs)} runs, {len(statuses)} examples, {Counter(statuses)}")
