"""Generated requests to every API operation that writes (schemathesis, from the OpenAPI
schema): never a 5xx, and a rejected request (4xx) writes nothing. Row counts of every
clinical table are compared around each request. Bounded and deterministic; the whole API's
schema conformance is tests/api/test_schemathesis.py's."""

from collections import Counter

import pytest
from schemathesis.checks import not_a_server_error

from alliance.models import Client, ClientTransfer, Episode, EpisodeComment, Flag
from measures.models import ItemAnswer, Rating, RatingChange, ScaleScore
from sessions.models import FormLink, TherapySession
from tests.api.schemathesis_support import api_schema, operation_runs, run_each

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

EXAMPLES_PER_OPERATION = 15
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
TABLES = [
    Client,
    ClientTransfer,
    TherapySession,
    FormLink,
    Rating,
    ItemAnswer,
    ScaleScore,
    RatingChange,
    Episode,
    Flag,
    EpisodeComment,
]


def snapshot() -> dict:
    counts = {model.__name__: model.objects.count() for model in TABLES}
    # Changes in place: the newest update time of each kind of record, and their revisions.
    counts["clients"] = list(Client.objects.order_by("pk").values_list("updated_at", "code"))
    counts["sessions"] = list(
        TherapySession.objects.order_by("pk").values_list("revision", "status", "note")
    )
    counts["ratings"] = list(Rating.objects.order_by("pk").values_list("revision"))
    counts["episodes"] = list(
        Episode.objects.order_by("pk").values_list("status", "action_note", "updated_at")
    )
    counts["links"] = list(FormLink.objects.order_by("pk").values_list("revoked_at", "used_at"))
    return counts


def test_rejected_api_writes_change_nothing(demo):
    with api_schema() as schema:
        operations = [
            result.ok()
            for result in schema.get_all_operations()
            if result.ok().method.upper() in WRITES
        ]
        assert len(operations) >= 10
        runs = operation_runs(operations, demo)
        statuses = Counter()

        def check(case, headers):
            before = snapshot()
            response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
            statuses[response.status_code] += 1
            if 400 <= response.status_code < 500:
                assert snapshot() == before, (
                    f"{case.method} {case.formatted_path} answered {response.status_code} but wrote"
                )

        failures = run_each(runs, demo, examples=EXAMPLES_PER_OPERATION, check=check)
        assert not failures, "\n\n".join(failures)
        # Both kinds were exercised: rejections, and writes that went through.
        assert sum(n for status, n in statuses.items() if 400 <= status < 500) > 50
        assert sum(n for status, n in statuses.items() if 200 <= status < 300) > 5
        print(f"schemathesis writes: {len(runs)} runs, {statuses}")
