import datetime as dt

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions


def token_expires_at(token) -> dt.datetime | None:
    """When an API token stops working: ALLIANCE_API_TOKEN_DAYS after it was issued, or
    never (None) when that setting is 0."""
    days = settings.ALLIANCE_API_TOKEN_DAYS
    return token.created + dt.timedelta(days=days) if days else None


def token_expired(token) -> bool:
    expires_at = token_expires_at(token)
    return expires_at is not None and timezone.now() >= expires_at


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, loading the user's clinic in the same query; a token
    past its lifetime (``token_expires_at``) is refused."""

    def authenticate_credentials(self, key):
        model = self.get_model()
        try:
            token = model.objects.select_related("user__clinic").get(key=key)
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        if token_expired(token):
            raise exceptions.AuthenticationFailed(
                "Token expired: ask for a new one with POST /api/v1/auth/token/."
            )
        return (token.user, token)
