"""Reads for pages and endpoints. Every selector starts from the user's scope."""

from django.db.models import OuterRef, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from alliance.models import Client, User
from measures.models import Rater, ScaleScore


def _latest_total(rater: str) -> Subquery:
    """The client's most recent scored total for one rater, by session number."""
    scores = ScaleScore.objects.filter(
        rating__session__client=OuterRef("pk"),
        rating__rater=rater,
        scale="total",
        score__isnull=False,
    ).order_by("-rating__session__number")
    return Subquery(scores.values("score")[:1])


def caseload_for(user: User) -> QuerySet[Client]:
    """Active clients the user treats, with their latest client and therapist totals."""
    return (
        Client.objects.visible_to(user)
        .active()
        .filter(primary_therapist=user)
        .annotate(
            latest_client_total=_latest_total(Rater.CLIENT),
            latest_therapist_total=_latest_total(Rater.THERAPIST),
        )
        .order_by("code")
    )


def client_get(user: User, client_id: int) -> Client:
    """One client within the user's scope, else 404."""
    return get_object_or_404(
        Client.objects.visible_to(user).select_related("primary_therapist"), pk=client_id
    )
