"""The core app's models, one module per area (clinics and people, clients, rupture
episodes and flags, notices, figures computed ahead, the audit log), re-exported here:
``from alliance.models import Client``.
"""

from alliance.models.audit import AccessEvent, AccessEventQuerySet, ApiTokenSecondFactor
from alliance.models.clients import (
    Client,
    ClientContact,
    ClientQuerySet,
    ClientTransfer,
)
from alliance.models.clinics import (
    KIOSK_SESSION_DAYS_MAX,
    Clinic,
    Role,
    Supervision,
    TimeStampedModel,
    User,
    validate_timezone,
)
from alliance.models.figures import ClinicOverviewSnapshot
from alliance.models.flags import (
    Episode,
    EpisodeComment,
    EpisodeQuerySet,
    Flag,
    FlagQuerySet,
    PendingFlagRefresh,
)
from alliance.models.jobs import Job
from alliance.models.notices import Notice, NoticeQuerySet

__all__ = [
    "KIOSK_SESSION_DAYS_MAX",
    "AccessEvent",
    "AccessEventQuerySet",
    "ApiTokenSecondFactor",
    "Client",
    "ClientContact",
    "ClientQuerySet",
    "ClientTransfer",
    "Clinic",
    "ClinicOverviewSnapshot",
    "Episode",
    "EpisodeComment",
    "EpisodeQuerySet",
    "Flag",
    "FlagQuerySet",
    "Job",
    "Notice",
    "NoticeQuerySet",
    "PendingFlagRefresh",
    "Role",
    "Supervision",
    "TimeStampedModel",
    "User",
    "validate_timezone",
]
