"""Writes with rules for the clinic's people: accounts, roles, passwords, sign-outs and
supervision links. Keyword-only, atomic."""

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from alliance.models import (
    Clinic,
    Supervision,
    User,
)

# --- people and roles --------------------------------------------------------------------


def user_create(
    *,
    clinic: Clinic,
    username: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    language: str = settings.LANGUAGE_CODE,
    is_therapist: bool = False,
    is_supervisor: bool = False,
    is_clinic_admin: bool = False,
) -> User:
    """Add a person to the clinic. They have no password until they open their set-password
    link (user_password_link): nobody else ever knows it."""
    user = User(
        clinic=clinic,
        username=username.strip(),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email.strip(),
        language=language,
        is_therapist=is_therapist,
        is_supervisor=is_supervisor,
        is_clinic_admin=is_clinic_admin,
    )
    user.set_unusable_password()
    user.full_clean()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise ValidationError(
            {"username": _("A user with that username already exists.")}
        ) from None
    return user


def user_update(
    *,
    user: User,
    changed_by: User,
    first_name: str,
    last_name: str,
    email: str,
    is_therapist: bool,
    is_supervisor: bool,
    is_clinic_admin: bool,
) -> User:
    """Change a person's name, email and roles. Admins cannot drop their own admin role."""
    if user.pk == changed_by.pk and not is_clinic_admin:
        raise ValidationError(
            {"is_clinic_admin": _("You cannot remove your own clinic-admin role.")}
        )
    values = {
        "first_name": first_name.strip(),
        "last_name": last_name.strip(),
        "email": email.strip(),
        "is_therapist": is_therapist,
        "is_supervisor": is_supervisor,
        "is_clinic_admin": is_clinic_admin,
    }
    for name, value in values.items():
        setattr(user, name, value)
    user.full_clean(exclude=["password"])
    user.save(update_fields=list(values))
    return user


def user_sessions_end(*, user: User) -> int:
    """Log the user out everywhere: delete their login sessions and revoke their API tokens.
    Returns how many login sessions ended.

    Sessions are read and decoded rather than tracked at login: this also finds sessions
    created before any tracking and keys rotated after login. It runs on a rare admin
    action, over unexpired sessions only.
    """
    user_pk = user._meta.pk.value_to_string(user)
    keys = [
        session.session_key
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get(SESSION_KEY) == user_pk
    ]
    Session.objects.filter(session_key__in=keys).delete()
    Token.objects.filter(user=user).delete()
    return len(keys)


def user_deactivate(*, user: User, changed_by: User) -> int:
    """Stop someone signing in and end their open sessions now. Returns sessions ended.

    Their records (clients, sessions, ratings) stay; transfer their clients separately.
    """
    if user.pk == changed_by.pk:
        raise ValidationError(_("You cannot deactivate your own account."))
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        return user_sessions_end(user=user)


def user_reactivate(*, user: User) -> User:
    user.is_active = True
    user.save(update_fields=["is_active"])
    return user


def user_password_reset(*, user: User, changed_by: User) -> int:
    """Remove a person's password and end their sessions, so they set a new one through a
    fresh set-password link. Returns sessions ended."""
    if user.pk == changed_by.pk:
        raise ValidationError(_("Change your own password from the Password page."))
    with transaction.atomic():
        user.set_unusable_password()
        user.save(update_fields=["password"])
        return user_sessions_end(user=user)


def user_password_link(*, user: User) -> str:
    """The path of a one-time link where the user chooses their password.

    Valid for settings.PASSWORD_RESET_TIMEOUT and only until a password is set.
    """
    return reverse(
        "password_set",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )


# --- supervision -------------------------------------------------------------------------


def supervision_add(*, supervisor: User, therapist: User) -> Supervision:
    """Link a supervisor to a therapist of the same clinic."""
    errors = {}
    if not (supervisor.is_supervisor and supervisor.is_active):
        errors["supervisor"] = _("Choose an active person with the supervisor role.")
    if not (therapist.is_therapist and therapist.is_active):
        errors["therapist"] = _("Choose an active person with the therapist role.")
    if errors:
        raise ValidationError(errors)
    duplicate = ValidationError(
        _("%(supervisor)s already supervises %(therapist)s.")
        % {"supervisor": supervisor, "therapist": therapist}
    )
    if Supervision.objects.filter(supervisor=supervisor, therapist=therapist).exists():
        raise duplicate
    supervision = Supervision(supervisor=supervisor, therapist=therapist)
    supervision.full_clean()
    try:
        with transaction.atomic():
            supervision.save()
    except IntegrityError:
        raise duplicate from None
    return supervision


def supervision_remove(*, supervision: Supervision) -> None:
    supervision.delete()
