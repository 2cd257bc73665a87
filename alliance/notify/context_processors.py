"""The unread-notices badge on every page of a therapist (templates/includes/nav.html)."""

import functools

from alliance.notify.selectors import notices_unread_count


def notices(request) -> dict:
    """``unread_notices``: a callable the template calls when it shows the badge, so the
    count (one query) is made once per page, and only on a page that shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    @functools.cache
    def unread_notices() -> int:
        return notices_unread_count(user)

    return {"unread_notices": unread_notices}
