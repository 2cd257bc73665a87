"""Reads of a person's notices, scoped (``Notice.objects.visible_to``): their own, about
clients they may see now, about episodes that still apply."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from alliance.models import Notice, User


def notices_for(user: User) -> QuerySet[Notice]:
    """The user's notices, newest first, with what the list shows of each."""
    return (
        Notice.objects.visible_to(user)
        .select_related("client", "episode__session")
        .order_by("-created_at", "-pk")
    )


def notice_get(user: User, notice_id: int) -> Notice:
    """One of the user's notices; 404 for anyone else's or one out of scope now."""
    return get_object_or_404(Notice.objects.visible_to(user), pk=notice_id)


def notices_unread_count(user: User) -> int:
    """The badge: one COUNT query."""
    return Notice.objects.visible_to(user).unread().count()
