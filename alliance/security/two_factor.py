"""Who signs in with a second factor (no DRF here: the API's authentication imports it)."""

from django_otp import user_has_device


def two_factor_required(user) -> bool:
    """Whether the user must sign in with a second factor even before setting one up: their
    clinic requires it, or they are site staff, who reach every clinic's data in the admin
    site (no query: the clinic is loaded with the user)."""
    return bool(user.is_staff or (user.clinic_id and user.clinic.require_two_factor))


def two_factor_owed(user, *, has_device: bool | None = None) -> bool:
    """Whether the user signs in with a second factor: it is required, or they set one up
    (one query unless ``has_device`` is given; pages use the session's flag)."""
    if two_factor_required(user):
        return True
    return user_has_device(user, confirmed=True) if has_device is None else has_device
