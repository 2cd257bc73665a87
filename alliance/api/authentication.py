import datetime as dt

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework import authentication, exceptions

from alliance.security.two_factor import two_factor_owed


def token_expires_at(token) -> dt.datetime | None:
    """When an API token stops working: ALLIANCE_API_TOKEN_DAYS after it was issued, or
    never (None) when that setting is 0."""
    days = settings.ALLIANCE_API_TOKEN_DAYS
    return token.created + dt.timedelta(days=days) if days else None


def token_expired(token) -> bool:
    expires_at = token_expires_at(token)
    return expires_at is not None and timezone.now() >= expires_at


def token_has_second_factor(token) -> bool:
    """Whether the token was issued after a verified second factor (ApiTokenSecondFactor)."""
    try:
        return token.second_factor is not None
    except type(token).second_factor.RelatedObjectDoesNotExist:
        return False


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication, loading the user's clinic in the same query. Refused: a
    token past its lifetime (``token_expires_at``), and a token issued without a second
    factor once two-factor sign-in applies to its user (the services revoke those tokens
    too; this is the backstop)."""

    def authenticate_credentials(self, key):
        model = self.get_model()
        devices = TOTPDevice.objects.filter(user_id=OuterRef("user_id"), confirmed=True)
        try:
            token = (
                model.objects.select_related("user__clinic", "second_factor")
                .annotate(user_has_device=Exists(devices))
                .get(key=key)
            )
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        if token_expired(token):
            raise exceptions.AuthenticationFailed(
                "Token expired: ask for a new one with POST /api/v1/auth/token/."
            )
        if not token_has_second_factor(token) and two_factor_owed(
            token.user, has_device=token.user_has_device
        ):
            raise exceptions.AuthenticationFailed(
                "This account signs in with a second factor and this token was issued without "
                "one: ask for a new one with POST /api/v1/auth/token/ and the code from your "
                "authenticator app."
            )
        return (token.user, token)
