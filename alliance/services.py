"""Writes with rules for the core domain. Keyword-only, atomic."""

from alliance.models import Client


def flags_refresh_for_client(*, client: Client) -> None:
    """Recompute the client's flags from their scores (the rupture engine lands separately)."""
