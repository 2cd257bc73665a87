"""Therapist session pages: schedule or record a session, change its status, rate it.

Sessions are fetched through the user's scope (404 outside it); writes go through
session_get_for_change, so a supervisor who may read a session gets 404 on any write.
"""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from alliance.clients.selectors import client_get, client_may_add_session
from alliance.forms import add_validation_error
from measures.definitions import format_number
from measures.models import Instrument, Rater
from measures.selectors import instrument_definition, instrument_for, rating_edit_refusal
from measures.services import AlreadyRated, StaleRating
from sessions import selectors, services
from sessions.forms import (
    RatingEditForm,
    RatingForm,
    SessionForm,
    SessionRevisionForm,
    SessionStatusForm,
)
from sessions.models import TherapySession

Status = TherapySession.Status


def _now_rounded() -> dt.datetime:
    """Now, to the last five minutes: the default start of a session being recorded."""
    now = timezone.localtime().replace(second=0, microsecond=0)
    return now - dt.timedelta(minutes=now.minute % 5)


def _redirect_back(request: HttpRequest, default):
    """Back to the page named by ?next= when it is on this site, else to ``default``."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


@login_required
def session_new(request: HttpRequest, client_id: int) -> HttpResponse:
    client = client_get(request.user, client_id)
    if not client_may_add_session(request.user, client):
        raise Http404("No client you may add sessions for matches the given query.")
    form = SessionForm(request.POST or None, initial={"starts_at": _now_rounded()})
    if request.method == "POST" and form.is_valid():
        try:
            session = services.session_schedule(
                client=client, therapist=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(
                request,
                _("Session %(number)d with %(code)s is %(status)s.")
                % {
                    "number": session.number,
                    "code": client.code,
                    "status": session.get_status_display().lower(),
                },
            )
            if "and_rate" in request.POST and session.status == Status.COMPLETED:
                return redirect("rating_new", session_id=session.pk)
            return redirect(session)
    return render(request, "sessions/session_form.html", {"form": form, "client": client})


@login_required
@require_safe
def session_answers(request: HttpRequest, session_id: int) -> HttpResponse:
    """A session's two ratings, scores and answers, as an HTML fragment: the client page
    unfolds it under the session's row when "Answers" is pressed."""
    course = selectors.session_with_ratings(selectors.session_get(request.user, session_id))
    [row] = selectors.session_rows(course, user=request.user, language=get_language())
    return render(request, "sessions/includes/session_answers.html", {"row": row})


@login_required
def session_detail(request: HttpRequest, session_id: int) -> HttpResponse:
    user = request.user
    course = selectors.session_with_ratings(selectors.session_get(user, session_id))
    [session] = course.sessions
    language = get_language()
    [row] = selectors.session_rows(course, user=user, language=language)
    may_change = selectors.session_may_change(user, session)
    therapist_rating = row.therapist_rating.rating if row.therapist_rating else None
    may_edit_rating = bool(
        therapist_rating and not rating_edit_refusal(rating=therapist_rating, user=user)
    )
    # A session with ratings took place: it stays completed (session_set_status refuses).
    has_ratings = bool(row.client_rating or row.therapist_rating)
    statuses = [(value, label) for value, label in Status.choices if value != session.status]
    if session.starts_at > timezone.now():  # a future session can only be cancelled
        statuses = [(value, label) for value, label in statuses if value == Status.CANCELLED]
    return render(
        request,
        "sessions/session_detail.html",
        {
            "session": session,
            "client": session.client,
            "row": row,
            "may_change": may_change,
            "may_edit_rating": may_edit_rating,
            "statuses": statuses if may_change and not has_ratings else [],
        },
    )


@login_required
def session_edit(request: HttpRequest, session_id: int) -> HttpResponse:
    session = selectors.session_get_for_change(request.user, session_id)
    initial = {"starts_at": session.starts_at, "note": session.note, "revision": session.revision}
    form = SessionRevisionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.session_update(
                session=session,
                starts_at=data["starts_at"],
                note=data["note"],
                expected_revision=data["revision"],
            )
        except services.StaleSession:
            # Keep what they typed; the form now carries the current revision, so a second
            # save, made knowingly, replaces the newer values.
            session.refresh_from_db()
            form = SessionRevisionForm({**request.POST.dict(), "revision": session.revision})
            form.is_valid()
            form.add_error(
                None,
                _(
                    "This session was changed after you opened it (for example in another "
                    "tab): it now starts %(when)s, with the note “%(note)s”. Nothing was "
                    "saved. Your changes are kept below: save again to replace the newer ones."
                )
                % {
                    "when": timezone.localtime(session.starts_at).strftime("%Y-%m-%d %H:%M"),
                    "note": session.note,
                },
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Session %(number)d saved.") % {"number": session.number})
            return redirect(session)
    return render(
        request,
        "sessions/session_form.html",
        {"form": form, "client": session.client, "session": session},
    )


@login_required
@require_POST
def session_status(request: HttpRequest, session_id: int) -> HttpResponse:
    session = selectors.session_get_for_change(request.user, session_id)
    form = SessionStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a status for the session."))
        return redirect(session)
    try:
        session = services.session_set_status(session=session, status=form.cleaned_data["status"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Session %(number)d is now %(status)s.")
            % {"number": session.number, "status": session.get_status_display().lower()},
        )
    return _redirect_back(request, session)


def _rating_session(request: HttpRequest, session_id: int) -> TherapySession:
    """A session the user held, for their own rating; 404 for anyone else."""
    session = selectors.session_get_for_change(request.user, session_id)
    if session.therapist_id != request.user.pk:
        raise Http404("Only the therapist who held a session rates it.")
    return session


def _rating_page(request, form: RatingForm, session: TherapySession, rating=None) -> HttpResponse:
    instructions = form.definition.instructions.get(form.language, "")
    return render(
        request,
        "sessions/rating_form.html",
        {"form": form, "session": session, "instructions": instructions, "rating": rating},
    )


@login_required
def rating_new(request: HttpRequest, session_id: int) -> HttpResponse:
    """The 30-second post-session rating: six radio groups, one button."""
    session = _rating_session(request, session_id)
    if session.ratings.filter(rater=Rater.THERAPIST).exists():
        messages.info(request, _("You have already rated this session."))
        return redirect("rating_edit", session_id=session.pk)
    try:
        services.session_check_rateable(session=session)
        instrument = instrument_for(clinic=session.client.clinic, rater=Rater.THERAPIST)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(session)
    except Instrument.DoesNotExist:
        messages.error(
            request, _("No therapist form is installed yet. Ask your clinic admin to load one.")
        )
        return redirect(session)
    definition = instrument_definition(instrument)
    language = definition.language_for(get_language())
    form = RatingForm(request.POST or None, definition=definition, language=language)
    if request.method == "POST" and form.is_valid():
        try:
            _rating, created = services.session_therapist_rating_record(
                session=session,
                user=request.user,
                answers=form.answers(),
                questions=form.questions(),
                submission_id=form.cleaned_data["submission_id"],
                language=language,
            )
        except AlreadyRated:
            messages.info(request, _("You have already rated this session."))
            return redirect(session)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            if created:
                messages.success(
                    request,
                    _("Your rating of session %(number)d with %(code)s is saved.")
                    % {"number": session.number, "code": session.client.code},
                )
            return _redirect_back(request, session.client)
    return _rating_page(request, form, session)


@login_required
def rating_edit(request: HttpRequest, session_id: int) -> HttpResponse:
    """Correct one's own rating within the clinic's edit window."""
    session = _rating_session(request, session_id)
    rating = get_object_or_404(
        session.ratings.select_related("instrument", "session__client__clinic").prefetch_related(
            "answers"
        ),
        rater=Rater.THERAPIST,
        submitted_by=request.user,
    )
    refusal = rating_edit_refusal(rating=rating, user=request.user)
    if refusal:
        messages.error(request, refusal)
        return redirect(session)
    definition = instrument_definition(rating.instrument)
    language = definition.language_for(get_language())
    initial = {answer.item: format_number(answer.value) for answer in rating.answers.all()}
    initial["revision"] = rating.revision
    data = request.POST.copy() if request.method == "POST" else None
    form = RatingEditForm(data, initial=initial, definition=definition, language=language)
    if data is not None and form.is_valid():
        try:
            services.session_therapist_rating_update(
                rating=rating,
                user=request.user,
                answers=form.answers(),
                questions=form.questions() if definition.questions else None,
                expected_revision=form.cleaned_data["revision"],
            )
        except StaleRating:
            # Keep what they chose; a second save, now knowingly, replaces the newer answers.
            rating.refresh_from_db(fields=["revision"])
            data["revision"] = rating.revision
            form = RatingEditForm(data, definition=definition, language=language)
            form.is_valid()
            form.add_error(
                None,
                _(
                    "This rating was changed after you opened it (for example in another tab). "
                    "Nothing was saved. Your answers are kept below: check them and save again "
                    "to replace the newer ones."
                ),
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(
                request,
                _("Your rating of session %(number)d is updated.") % {"number": session.number},
            )
            return _redirect_back(request, session)
    return _rating_page(request, form, session, rating=rating)
