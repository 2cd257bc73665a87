"""Writes with rules for the core domain. Keyword-only, atomic."""

import re

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

from alliance.models import Client, ClientTransfer, Clinic, Supervision, User
from alliance.selectors import client_code_suggest


def flags_refresh_for_client(*, client: Client) -> None:
    """Recompute the client's flags from their scores (the rupture engine lands separately)."""


# --- clients -----------------------------------------------------------------------------

# Pseudonymous codes: letters, digits and . _ - (safe in exports and file names).
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Attempts at a suggested code when concurrent requests take the same one.
CODE_ATTEMPTS = 5


def _check_primary_therapist(*, clinic_id: int, therapist: User) -> None:
    if not (therapist.is_therapist and therapist.is_active and therapist.clinic_id == clinic_id):
        raise ValidationError(
            {"primary_therapist": _("Choose an active therapist of the client's clinic.")}
        )


def _check_code(code: str) -> None:
    if not CODE_PATTERN.match(code):
        raise ValidationError(
            {
                "code": _(
                    "Use letters, digits, dots, dashes or underscores, starting with a letter "
                    "or digit (for example R-0042). Never the client's name."
                )
            }
        )


def _check_code_free(*, clinic_id: int, code: str, client_pk: int | None = None) -> None:
    taken = Client.objects.filter(clinic_id=clinic_id, code__iexact=code).exclude(pk=client_pk)
    if taken.exists():
        raise ValidationError(
            {
                "code": _("A client with the code %(code)s already exists in your clinic.")
                % {"code": code}
            }
        )


def client_create(
    *,
    clinic: Clinic,
    primary_therapist: User,
    code: str = "",
    display_name: str = "",
    language: str = Client.Language.ENGLISH,
    show_scores_to_client: bool = False,
) -> Client:
    """Add an active client. An empty code gets the clinic's next suggested code."""
    _check_primary_therapist(clinic_id=clinic.pk, therapist=primary_therapist)
    code = code.strip()
    if code:
        _check_code(code)
        _check_code_free(clinic_id=clinic.pk, code=code)
    for _attempt in range(1 if code else CODE_ATTEMPTS):
        client = Client(
            clinic=clinic,
            primary_therapist=primary_therapist,
            code=code or client_code_suggest(clinic),
            display_name=display_name.strip(),
            language=language,
            show_scores_to_client=show_scores_to_client,
        )
        client.full_clean()
        try:
            with transaction.atomic():
                client.save()
        except IntegrityError:
            continue  # another request took the code between the check and the insert
        return client
    raise ValidationError({"code": _("This code was just taken. Please choose another.")})


def client_update(
    *,
    client: Client,
    code: str,
    display_name: str,
    language: str,
    status: str,
    show_scores_to_client: bool,
) -> Client:
    """Change a client's record. Discharging records when; reactivating clears it."""
    code = code.strip()
    _check_code(code)
    _check_code_free(clinic_id=client.clinic_id, code=code, client_pk=client.pk)
    fields = {
        "code": code,
        "display_name": display_name.strip(),
        "language": language,
        "status": status,
        "show_scores_to_client": show_scores_to_client,
    }
    if status != client.status:
        fields["discharged_at"] = timezone.now() if status == Client.Status.DISCHARGED else None
    changed = [name for name, value in fields.items() if getattr(client, name) != value]
    for name in changed:
        setattr(client, name, fields[name])
    if not changed:
        return client
    client.full_clean()
    try:
        with transaction.atomic():
            client.save(update_fields=[*changed, "updated_at"])
    except IntegrityError:
        raise ValidationError(
            {"code": _("This code was just taken. Please choose another.")}
        ) from None
    return client


def client_transfer(
    *, client: Client, to_therapist: User, transferred_by: User, note: str = ""
) -> ClientTransfer:
    """Make another therapist of the clinic the client's primary therapist; keep the history."""
    if not (transferred_by.is_clinic_admin and transferred_by.clinic_id == client.clinic_id):
        raise ValidationError(_("Only a clinic admin of the client's clinic transfers clients."))
    _check_primary_therapist(clinic_id=client.clinic_id, therapist=to_therapist)
    with transaction.atomic():
        locked = Client.objects.select_for_update().get(pk=client.pk)
        if locked.primary_therapist_id == to_therapist.pk:
            raise ValidationError(
                {
                    "to_therapist": _("%(name)s is already the primary therapist.")
                    % {"name": to_therapist}
                }
            )
        transfer = ClientTransfer(
            client=locked,
            from_therapist_id=locked.primary_therapist_id,
            to_therapist=to_therapist,
            transferred_by=transferred_by,
            note=note.strip(),
        )
        transfer.full_clean()
        transfer.save()
        locked.primary_therapist = to_therapist
        locked.save(update_fields=["primary_therapist", "updated_at"])
    client.primary_therapist = to_therapist
    return transfer


# --- people and roles --------------------------------------------------------------------


def user_create(
    *,
    clinic: Clinic,
    username: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
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
    """Log the user out everywhere: delete their login sessions. Returns how many.

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
