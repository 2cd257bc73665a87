"""Helpers for the flag list on the client page (templates/includes/flag_list.html)."""

from django import template

from alliance import selectors
from alliance.models import Episode, Flag

register = template.Library()

# Flags shown per session before "show more": a rupture often raises a dozen (every scale,
# both raters, several rules) and the first few, the total first, tell the story.
SHOWN_PER_SESSION = 3


@register.simple_tag(takes_context=True)
def flag_permissions(context, client) -> dict:
    """What the signed-in user may do with this client's flags: act (acknowledge, resolve)
    and comment. Decided by the same selectors as the flag views."""
    user = context["request"].user
    return {
        "act": selectors.flag_may_act(user, client),
        "comment": selectors.flag_may_comment(user, client),
    }


def _record(flag: Flag) -> tuple:
    return (
        flag.action_note,
        flag.acknowledged_by_id,
        flag.action_session_id,
        flag.rupture_type,
        flag.repair_strategy,
    )


@register.simple_tag
def flag_groups(flags) -> dict:
    """Unresolved flags grouped by session, in the given order (newest session first and
    the total first from ``selectors.client_flags``), the resolved ones apart, and counts.

    Each group has its ``lead`` flag (the first open one, else the first): the session's
    Acknowledge and Comment buttons open it, and its form can cover the session's others.
    What was done is listed once per distinct record, not once per flag.
    """
    sessions: dict[int, dict] = {}
    resolved = []
    for flag in flags:
        if flag.status == Episode.Status.RESOLVED:
            resolved.append(flag)
            continue
        group = sessions.setdefault(
            flag.session_id,
            {"session": flag.session, "flags": [], "open": 0, "records": {}, "lead": None},
        )
        group["flags"].append(flag)
        if flag.status == Episode.Status.OPEN:
            group["open"] += 1
            group["lead"] = group["lead"] or flag
        elif flag.action_note:
            group["records"].setdefault(_record(flag), flag)
    for group in sessions.values():
        group["lead"] = group["lead"] or group["flags"][0]
        group["shown"] = group["flags"][:SHOWN_PER_SESSION]
        group["more"] = group["flags"][SHOWN_PER_SESSION:]
        group["records"] = list(group["records"].values())
    return {
        "sessions": list(sessions.values()),
        "resolved": resolved,
        "open": sum(group["open"] for group in sessions.values()),
        "acknowledged": sum(len(g["flags"]) - g["open"] for g in sessions.values()),
    }
