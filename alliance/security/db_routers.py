"""A read replica for the dashboards (DATABASE_REPLICA_URL); everything else on the primary.

Only GET and HEAD requests to the pages in REPLICA_VIEWS read from the ``replica`` alias, and
only the clinical tables (REPLICA_APPS): logins, sessions, lockouts and the audit log are
always read from the primary, and every write goes there. Inside a transaction reads stay on
the primary too.

A replica lags its primary (usually well under a second, more under load or after a network
hiccup). So a user whose own request just wrote something (a successful POST, PUT, PATCH or
DELETE) reads from the primary for the next ALLIANCE_REPLICA_PIN_SECONDS: a therapist who
acknowledged a flag sees it acknowledged on the next page (read-your-writes). Others may see
a dashboard that is a moment old, which is what a dashboard is.

Installed by settings.py when DATABASE_REPLICA_URL is set: the router in DATABASE_ROUTERS and
ReplicaReadsMiddleware in MIDDLEWARE. Without them nothing here runs.
"""

import contextlib
import contextvars
from collections.abc import Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse

REPLICA = "replica"
# The apps whose tables a dashboard aggregates (not auth, sessions, axes, otp, the audit log).
REPLICA_APPS = frozenset({"alliance", "therapy_sessions", "measures"})
# Never from the replica: who is signed in (a deactivation takes effect at once) and the
# audit log.
PRIMARY_ONLY = frozenset({"user", "accessevent"})
# Read-only pages that aggregate many rows: dashboards, packets, lists and exports.
REPLICA_VIEWS = frozenset(
    {
        "supervision",
        "clinic_overview",
        "client_list",
        "therapist_caseload",
        "therapist_packet",
        "therapist_packet_xlsx",
        "therapist_packet_clients_csv",
        "therapist_packet_sessions_csv",
        "client_packet",
        "client_packet_xlsx",
        "client_packet_clients_csv",
        "client_packet_sessions_csv",
        "api-caseload",
        "api-supervision",
        "api-export-ratings-csv",
        "api-export-ratings-xlsx",
    }
)
# Set on the response to a user's own write; while it lasts their reads use the primary.
PIN_COOKIE = "alliance_primary"
SAFE_METHODS = ("GET", "HEAD")

_reads_from: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "alliance_reads_from", default=None
)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextlib.contextmanager
def replica_reads(alias: str = REPLICA) -> Iterator[None]:
    """Within the block, reads of the clinical tables go to ``alias`` (when configured)."""
    token = _reads_from.set(alias if alias in settings.DATABASES else None)
    try:
        yield
    finally:
        _reads_from.reset(token)


class ReplicaRouter:
    """Reads to the replica inside ``replica_reads``; writes and all else to the primary."""

    def db_for_read(self, model, **hints) -> str:
        alias = _reads_from.get()
        if (
            alias is None
            or model._meta.app_label not in REPLICA_APPS
            or model._meta.model_name in PRIMARY_ONLY
            # A transaction reads the primary, where its own writes are.
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            # Explicit: otherwise Django would read an object's relations from wherever
            # the object came from, the replica included.
            return DEFAULT_DB_ALIAS
        return alias

    def db_for_write(self, model, **hints) -> str:
        # Explicit for the same reason: an object read from the replica is saved here.
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # Both aliases hold the same data.
        if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool | None:
        # The replica gets its schema by replication, never by migrate.
        return False if db == REPLICA else None


class ReplicaReadsMiddleware:
    """Runs the views in REPLICA_VIEWS inside ``replica_reads`` (GET/HEAD, not pinned) and
    pins a user to the primary after their own successful write."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request._alliance_replica_token = None
        try:
            response = self.get_response(request)
        finally:
            if request._alliance_replica_token is not None:
                _reads_from.reset(request._alliance_replica_token)
        if request.method not in SAFE_METHODS and response.status_code < 400:
            response.set_cookie(
                PIN_COOKIE,
                "1",
                max_age=settings.ALLIANCE_REPLICA_PIN_SECONDS,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        match = request.resolver_match
        if (
            request.method in SAFE_METHODS
            and match is not None
            and match.url_name in REPLICA_VIEWS
            and PIN_COOKIE not in request.COOKIES
            and replica_configured()
        ):
            request._alliance_replica_token = _reads_from.set(REPLICA)
