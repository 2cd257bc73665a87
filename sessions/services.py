"""Writes with rules for therapy sessions. Keyword-only, atomic."""

import datetime as dt
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from alliance.flags.services import flags_refresh_or_defer
from alliance.models import Client, User
from measures.models import Rater, Rating
from measures.selectors import instrument_for
from measures.services import rating_record, rating_update
from sessions.models import TherapySession

Status = TherapySession.Status

# Attempts at the next free session number when concurrent requests take the same one.
NUMBER_ATTEMPTS = 5
# Renumbering parks the moved sessions this far up first: unique (client, number) is checked
# row by row, so numbers cannot be swapped in one step.
RENUMBER_SHIFT = 100_000


def _check_when(*, starts_at: dt.datetime, status: str) -> None:
    if timezone.is_naive(starts_at):
        raise ValidationError({"starts_at": _("Enter the date and time with its timezone.")})
    if status in (Status.COMPLETED, Status.NO_SHOW) and starts_at > timezone.now():
        raise ValidationError(
            {
                "starts_at": _(
                    "This date is in the future: a session can only be marked %(status)s "
                    "once it has started. Choose “Scheduled” or correct the date."
                )
                % {"status": Status(status).label.lower()}
            }
        )


def _next_number(client: Client) -> int:
    return (client.sessions.aggregate(last=Max("number"))["last"] or 0) + 1


def sessions_renumber(*, client: Client) -> bool:
    """Make the client's session numbers follow the dates; True when any number changed.

    Numbers follow dates: sorted by (starts_at, then number), the client's sessions take the
    client's own numbers in increasing order, so the set of numbers is kept (an import's
    gaps stay) and a session held before an already-scheduled one never comes after it.
    Call inside a transaction holding the client's row lock (``_client_lock``). The moved
    sessions get a history record each; flags explain sessions by number, so the caller
    refreshes them.
    """
    # Whole rows: the history records copy every field.
    sessions = list(client.sessions.order_by("starts_at", "number"))
    numbers = sorted(session.number for session in sessions)
    moved = []
    for session, number in zip(sessions, numbers, strict=True):
        if session.number != number:
            session.number = number
            moved.append(session)
    if not moved:
        return False
    TherapySession.objects.filter(pk__in=[session.pk for session in moved]).update(
        number=F("number") + RENUMBER_SHIFT
    )
    now = timezone.now()
    for session in moved:
        session.updated_at = now
    bulk_update_with_history(moved, TherapySession, ["number", "updated_at"])
    return True


def sessions_renumber_existing(*, clients) -> int:
    """Renumber the sessions of existing clients so that numbers follow dates (data entered
    before that rule), each client in its own transaction, and refresh the flags of those
    that changed. Returns how many clients changed."""
    changed = 0
    for client in clients.order_by("pk").iterator():
        with transaction.atomic():
            _client_lock(client)
            renumbered = sessions_renumber(client=client)
        if renumbered:
            _flags_refresh(client)
            changed += 1
    return changed


def _client_lock(client: Client) -> None:
    """Lock the client's row until the transaction ends: numbering is done one at a time."""
    Client.objects.select_for_update().filter(pk=client.pk).values_list("pk").first()


def _flags_refresh(client: Client) -> None:
    # Flags follow the held sessions and name them by number (docs/ruptures.md).
    flags_refresh_or_defer(client=client)


def session_schedule(
    *,
    client: Client,
    therapist: User,
    starts_at: dt.datetime,
    status: str = Status.SCHEDULED,
    note: str = "",
    refresh_flags: bool = True,
) -> TherapySession:
    """Add a session to the client's course, scheduled or already held, numbered by its date.

    The session takes the client's next number, then the client's sessions are renumbered
    so that numbers follow dates (``sessions_renumber``): a session held on 7 December,
    recorded after one scheduled for 10 December, becomes the earlier number. Numbering runs
    under a lock on the client; the unique (client, number) constraint backs it, and a
    request that still loses a race for a number retries. The client's flags are then
    refreshed when the session was held or numbers moved (``refresh_flags=False``: a bulk
    loader refreshes once at the end).
    """
    if not (
        therapist.is_therapist and therapist.is_active and therapist.clinic_id == client.clinic_id
    ):
        raise ValidationError(_("Sessions are held by an active therapist of the client's clinic."))
    if client.status != Client.Status.ACTIVE:
        raise ValidationError(
            _("%(code)s is discharged: reactivate the client before adding sessions.")
            % {"code": client.code}
        )
    _check_when(starts_at=starts_at, status=status)
    for _attempt in range(NUMBER_ATTEMPTS):
        session = TherapySession(
            client=client,
            therapist=therapist,
            starts_at=starts_at,
            status=status,
            note=note,
        )
        # The number's uniqueness is left to the database, which settles races.
        session.full_clean(exclude=["number"], validate_constraints=False)
        try:
            with transaction.atomic():
                _client_lock(client)
                session.number = _next_number(client)
                session.save()
                renumbered = sessions_renumber(client=client)
        except IntegrityError:
            continue
        if renumbered:
            session.refresh_from_db(fields=["number"])
        if refresh_flags and (renumbered or status == Status.COMPLETED):
            _flags_refresh(client)
        return session
    raise ValidationError(_("Could not number the session: please try again."))


class StaleSession(ValidationError):
    """The session changed since the form was opened: saving would overwrite that change."""


def session_update(
    *,
    session: TherapySession,
    starts_at: dt.datetime,
    note: str,
    expected_revision: int | None = None,
) -> TherapySession:
    """Correct a session's date and time or its note.

    A new date renumbers the client's sessions so that numbers still follow dates (then the
    client's flags are refreshed: they name sessions by number and follow their order).

    ``expected_revision`` is the revision the form was opened at: if the session has been
    edited since (another tab, a colleague), StaleSession is raised and nothing is written.
    None skips the check (an API client that sends no revision).
    """
    _check_when(starts_at=starts_at, status=session.status)
    with transaction.atomic():
        # Lock the row so two edits of the same revision cannot both succeed.
        current = TherapySession.objects.select_for_update().get(pk=session.pk)
        moves = current.starts_at != starts_at
        if expected_revision is not None and current.revision != expected_revision:
            raise StaleSession(
                _(
                    "This session was changed after you opened it (for example in another "
                    "tab). Nothing was saved: check the current date and note, then make "
                    "your change again."
                )
            )
        session.starts_at = starts_at
        session.note = note
        session.revision = current.revision + 1
        session.full_clean(validate_constraints=False)
        session.save(update_fields=["starts_at", "note", "revision", "updated_at"])
        renumbered = False
        if moves:
            _client_lock(session.client)
            renumbered = sessions_renumber(client=session.client)
    if renumbered:
        session.refresh_from_db(fields=["number"])
        _flags_refresh(session.client)
    return session


def session_set_status(*, session: TherapySession, status: str) -> TherapySession:
    """Mark a session scheduled, completed, cancelled or no-show.

    A session with ratings took place: it stays completed. A session in the future can be
    cancelled but not completed or marked no-show. Held sessions are the rupture engine's
    positions, so a change to or from completed refreshes the client's flags.
    """
    if status not in Status.values:
        raise ValidationError(_("Unknown session status."))
    if status == session.status:
        return session
    with transaction.atomic():
        session = (
            TherapySession.objects.select_for_update().select_related("client").get(pk=session.pk)
        )
        if status != Status.COMPLETED and session.ratings.exists():
            raise ValidationError(
                _("This session has ratings, so it took place: it stays completed.")
            )
        _check_when(starts_at=session.starts_at, status=status)
        held_changes = Status.COMPLETED in (session.status, status)
        session.status = status
        session.save(update_fields=["status", "updated_at"])
    if held_changes:
        _flags_refresh(session.client)
    return session


def session_complete_if_scheduled(*, session: TherapySession) -> None:
    """A rating is evidence the session took place: a scheduled one becomes completed.

    Saved row by row (not a queryset update) so the change history keeps it too.
    """
    with transaction.atomic():
        scheduled = (
            TherapySession.objects.select_for_update()
            .filter(pk=session.pk, status=Status.SCHEDULED)
            .first()
        )
        if scheduled is None:
            return
        scheduled.status = Status.COMPLETED
        scheduled.save(update_fields=["status", "updated_at"])
    session.status = Status.COMPLETED


class NotRateable(ValidationError):
    """The session cannot be rated now; ``code`` says why: "closed" (cancelled or missed)
    or "not_started"."""


def session_check_rateable(*, session: TherapySession, now: dt.datetime | None = None) -> None:
    """The one rule for whether a session can have a rating now, which every path applies
    before it stores one (the API and the therapist's form, the client's link and the
    tablet, the import) and before a client form link is made: the session was not
    cancelled or missed, and it has started. Raises NotRateable, its message for clinicians.
    """
    if session.status in (Status.CANCELLED, Status.NO_SHOW):
        raise NotRateable(
            _("Session %(number)d was %(status)s: there is nothing to rate.")
            % {"number": session.number, "status": session.get_status_display().lower()},
            code="closed",
        )
    if session.starts_at > (now or timezone.now()):
        raise NotRateable(
            _("Session %(number)d has not started yet: rate it once it has taken place.")
            % {"number": session.number},
            code="not_started",
        )


def session_lock_rateable(*, session: TherapySession) -> TherapySession:
    """Lock the session's row and check it can be rated; inside the transaction that stores
    the rating, so the session cannot be cancelled in between (session_set_status waits,
    then refuses: the session has a rating). Returns the locked row."""
    locked = TherapySession.objects.select_for_update().get(pk=session.pk)
    session_check_rateable(session=locked)
    return locked


def session_therapist_rating_record(
    *,
    session: TherapySession,
    user: User,
    answers: dict[str, Any],
    questions: dict[str, Any] | None = None,
    submission_id: uuid.UUID | None = None,
    language: str = "en",
) -> tuple[Rating, bool]:
    """The session's therapist logs their post-session rating; the session is then completed
    and the client's flags refreshed (the therapist form and the API's rating endpoint).

    Stores the rating through measures, then refreshes the flags in their own savepoint: a
    failed refresh is rolled back alone and left for the retry, the rating stays
    (``flags_refresh_or_defer``). Returns (rating, created) like
    measures.services.rating_record: a resubmitted form (same submission_id) returns the
    stored rating with created=False, and refreshes nothing.
    """
    if user.pk != session.therapist_id:
        raise ValidationError(_("Only the therapist who held this session can rate it."))
    session_check_rateable(session=session)
    instrument = instrument_for(clinic=session.client.clinic, rater=Rater.THERAPIST)
    with transaction.atomic():
        session_lock_rateable(session=session)
        # Completed first: the flag refresh after the rating counts held sessions only.
        session_complete_if_scheduled(session=session)
        rating, created = rating_record(
            session=session,
            instrument=instrument,
            answers=answers,
            questions=questions,
            submitted_by=user,
            submission_id=submission_id,
            language=language,
        )
        if created:
            flags_refresh_or_defer(client=session.client)
    return rating, created


def session_therapist_rating_update(
    *,
    rating: Rating,
    user: User,
    answers: dict[str, Any],
    questions: dict[str, Any] | None = None,
    expected_revision: int,
) -> Rating:
    """The therapist corrects their own rating (measures.services.rating_update: the edit
    window, the stale-revision check, the change log), then the client's flags are refreshed
    in their own savepoint: the correction stays if the refresh fails (it is retried)."""
    with transaction.atomic():
        rating = rating_update(
            rating=rating,
            user=user,
            answers=answers,
            questions=questions,
            expected_revision=expected_revision,
        )
        flags_refresh_or_defer(client=rating.session.client)
    return rating
