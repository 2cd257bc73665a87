"""Helpers for the episode list on the client page (templates/includes/flag_list.html)."""

from django import template

from alliance.flags import selectors as flag_selectors
from alliance.models import Episode

register = template.Library()


@register.simple_tag(takes_context=True)
def flag_permissions(context, client) -> dict:
    """What the signed-in user may do with this client's episodes: act (acknowledge,
    resolve) and comment. Decided by the same selectors as the episode views."""
    user = context["request"].user
    return {
        "act": flag_selectors.flag_may_act(user, client),
        "comment": flag_selectors.flag_may_comment(user, client),
    }


@register.simple_tag
def episode_groups(rows) -> dict:
    """The client page's episode rows (``episode_text.client_episode_rows``, newest first):
    the unresolved ones, the resolved ones apart, and how many are open and acknowledged."""
    unresolved = [row for row in rows if row.episode.status != Episode.Status.RESOLVED]
    return {
        "unresolved": unresolved,
        "resolved": [row for row in rows if row.episode.status == Episode.Status.RESOLVED],
        "open": sum(row.episode.status == Episode.Status.OPEN for row in unresolved),
        "acknowledged": sum(
            row.episode.status == Episode.Status.ACKNOWLEDGED for row in unresolved
        ),
    }
