"""Episode pages: an episode (one event, with the flags that found it), its history and
comments, the acknowledge / resolve / comment actions, and the clinic admin's rupture-rule
settings.

Every view starts from ``Episode.objects.visible_to`` (through the selectors): an episode
outside the user's scope is 404, and so is a write by someone who may see it but not do that
(a supervisor acknowledging, a clinic admin commenting).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alliance.flags import selectors as flag_selectors
from alliance.flags import services as flag_services
from alliance.flags.forms import (
    FlagAcknowledgeForm,
    FlagCommentForm,
    FlagResolveForm,
    RuleSettingsForm,
)
from alliance.flags.text import episode_evidence, episode_headline
from alliance.forms import add_validation_error
from alliance.jobs import services as job_services
from alliance.models import Episode, Job
from alliance.notify import services as notify_services


def _acknowledge_form(episode: Episode, data=None) -> FlagAcknowledgeForm:
    return FlagAcknowledgeForm(
        data, episode=episode, sessions=flag_selectors.flag_action_sessions(episode.client)
    )


def _episode_page(
    request: HttpRequest,
    episode: Episode,
    *,
    acknowledge_form: FlagAcknowledgeForm | None = None,
    resolve_form: FlagResolveForm | None = None,
    comment_form: FlagCommentForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    may_act = (
        flag_selectors.flag_may_act(user, episode.client)
        and episode.is_active
        and episode.status != Episode.Status.RESOLVED
    )
    may_comment = flag_selectors.flag_may_comment(user, episode.client)
    language = get_language()
    context = {
        "episode": episode,
        "client": episode.client,
        "headline": episode_headline(episode),
        "evidence": episode_evidence(episode, language=language),
        "may_act": may_act,
        "may_comment": may_comment,
        # A form sent back with errors is shown even when the episode has since closed.
        "acknowledge_form": acknowledge_form or (_acknowledge_form(episode) if may_act else None),
        "resolve_form": resolve_form or (FlagResolveForm() if may_act else None),
        "comment_form": comment_form or (FlagCommentForm() if may_comment else None),
    }
    return render(request, "alliance/flags/detail.html", context, status=status)


@login_required
def episode_detail(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = flag_selectors.episode_get(request.user, episode_id)
    # Opening the episode reads the user's alerts about it (from the notices page or not): a
    # GET that changes the user's own read marks only, deliberately (docs/notify.md, Pages).
    notify_services.notices_mark_read_for_episode(user=request.user, episode=episode)
    return _episode_page(request, episode)


@login_required
def flag_detail(request: HttpRequest, flag_id: int) -> HttpResponse:
    """A link to one rule's flag (older pages, exports) opens its episode."""
    episode_id = flag_selectors.flag_episode_id(request.user, flag_id)
    return redirect("episode_detail", episode_id=episode_id)


@login_required
@require_POST
def episode_acknowledge(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = flag_selectors.episode_get_for_action(request.user, episode_id)
    form = _acknowledge_form(episode, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            flag_services.episode_acknowledge(
                episode=episode,
                user=request.user,
                action_note=data["action_note"],
                action_session=data["action_session"],
                rupture_type=data["rupture_type"],
                repair_strategy=data["repair_strategy"],
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Flag acknowledged. What you did is recorded."))
            return redirect("client_detail", client_id=episode.client_id)
    return _episode_page(request, episode, acknowledge_form=form, status=400)


@login_required
@require_POST
def episode_resolve(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = flag_selectors.episode_get_for_action(request.user, episode_id)
    form = FlagResolveForm(request.POST)
    if form.is_valid():
        try:
            flag_services.episode_resolve(
                episode=episode, user=request.user, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Flag resolved."))
            return redirect("client_detail", client_id=episode.client_id)
    return _episode_page(request, episode, resolve_form=form, status=400)


@login_required
@require_POST
def episode_comment(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = flag_selectors.episode_get_for_comment(request.user, episode_id)
    form = FlagCommentForm(request.POST)
    if form.is_valid():
        try:
            flag_services.episode_comment_add(
                episode=episode, user=request.user, text=form.cleaned_data["text"]
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Comment added."))
            return redirect(reverse("episode_detail", args=[episode.pk]) + "#comments")
    return _episode_page(request, episode, comment_form=form, status=400)


# --- clinic administration: rule settings ------------------------------------------------


@login_required
def clinic_rules(request: HttpRequest) -> HttpResponse:
    """The clinic's rupture-rule settings, for its clinic admins; saving stores them and
    starts recomputing the clinic's flags as a job (its progress page is next)."""
    user = request.user
    if not (user.is_active and user.is_clinic_admin and user.clinic_id):
        raise Http404("Rule settings are for clinic admins.")
    clinic = user.clinic
    form = RuleSettingsForm(
        request.POST or None,
        current=flag_selectors.clinic_rule_settings(clinic),
        scales=flag_selectors.clinic_rule_scales(clinic),
    )
    if request.method == "POST":
        if form.is_valid():
            try:
                with transaction.atomic():
                    flag_services.clinic_rule_settings_update(
                        clinic=clinic,
                        user=user,
                        rule_settings=form.rule_settings(),
                    )
                    # Recomputing every flag of the clinic is long work: a job, sent to the
                    # queue once the settings are committed.
                    job = job_services.job_create(kind=Job.Kind.FLAGS_RECOMPUTE, user=user)
            except ValidationError as exc:
                add_validation_error(form, exc)
            else:
                messages.success(
                    request,
                    _("Rule settings saved. The clinic's flags are being recomputed with them."),
                )
                return redirect(job)
        return render(request, "alliance/flags/rules.html", {"form": form}, status=400)
    return render(request, "alliance/flags/rules.html", {"form": form})
