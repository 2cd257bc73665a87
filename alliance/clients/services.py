"""Writes with rules for clients: create, update, transfer. Keyword-only, atomic."""

import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from alliance.clients.selectors import client_code_suggest
from alliance.models import (
    Client,
    ClientTransfer,
    Clinic,
    User,
)

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
