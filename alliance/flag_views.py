"""Flag pages: a flag with its history and comments, the acknowledge / resolve / comment
actions, and the clinic admin's rupture-rule settings.

Every view starts from ``Flag.objects.visible_to`` (through the selectors): a flag outside
the user's scope is 404, and so is a write by someone who may see the flag but not do that
(a supervisor acknowledging, a clinic admin commenting).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alliance import selectors, services
from alliance.flag_forms import (
    RULE_DESCRIPTIONS,
    FlagAcknowledgeForm,
    FlagCommentForm,
    FlagResolveForm,
    RuleSettingsForm,
)
from alliance.forms import add_validation_error
from alliance.models import Flag


def _acknowledge_form(flag: Flag, data=None) -> FlagAcknowledgeForm:
    return FlagAcknowledgeForm(
        data,
        flag=flag,
        sessions=selectors.flag_action_sessions(flag.client),
        others=list(selectors.flag_session_others(flag)),
    )


def _resolve_form(flag: Flag, data=None) -> FlagResolveForm:
    return FlagResolveForm(
        data, flag=flag, others=list(selectors.flag_session_others(flag, unresolved=True))
    )


def _flag_page(
    request: HttpRequest,
    flag: Flag,
    *,
    acknowledge_form: FlagAcknowledgeForm | None = None,
    resolve_form: FlagResolveForm | None = None,
    comment_form: FlagCommentForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    may_act = (
        selectors.flag_may_act(user, flag.client)
        and flag.is_active
        and flag.status != Flag.Status.RESOLVED
    )
    may_comment = selectors.flag_may_comment(user, flag.client)
    context = {
        "flag": flag,
        "client": flag.client,
        "rule_description": RULE_DESCRIPTIONS.get(flag.rule, ""),
        "client_report": selectors.flag_client_report(flag, language=get_language()),
        "same_session": list(
            selectors.client_flags(user, flag.client)
            .filter(session_id=flag.session_id)
            .exclude(pk=flag.pk)
        ),
        "may_act": may_act,
        "may_comment": may_comment,
        # A form sent back with errors is shown even when the flag has since closed.
        "acknowledge_form": acknowledge_form or (_acknowledge_form(flag) if may_act else None),
        "resolve_form": resolve_form or (_resolve_form(flag) if may_act else None),
        "comment_form": comment_form or (FlagCommentForm() if may_comment else None),
    }
    return render(request, "alliance/flags/detail.html", context, status=status)


@login_required
def flag_detail(request: HttpRequest, flag_id: int) -> HttpResponse:
    return _flag_page(request, selectors.flag_get(request.user, flag_id))


@login_required
@require_POST
def flag_acknowledge(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = selectors.flag_get_for_action(request.user, flag_id)
    form = _acknowledge_form(flag, request.POST)
    if form.is_valid():
        data = form.cleaned_data
        flags = [flag, *(form.others if data.get("same_session") else [])]
        try:
            services.flags_acknowledge(
                flags=flags,
                user=request.user,
                action_note=data["action_note"],
                action_session=data["action_session"],
                rupture_type=data["rupture_type"],
                repair_strategy=data["repair_strategy"],
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(
                request,
                ngettext(
                    "Flag acknowledged. What you did is recorded.",
                    "%(count)d flags acknowledged. What you did is recorded.",
                    len(flags),
                )
                % {"count": len(flags)},
            )
            return redirect("client_detail", client_id=flag.client_id)
    return _flag_page(request, flag, acknowledge_form=form, status=400)


@login_required
@require_POST
def flag_resolve(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = selectors.flag_get_for_action(request.user, flag_id)
    form = _resolve_form(flag, request.POST)
    if form.is_valid():
        flags = [flag, *(form.others if form.cleaned_data.get("same_session") else [])]
        try:
            services.flags_resolve(flags=flags, user=request.user, note=form.cleaned_data["note"])
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(
                request,
                ngettext("Flag resolved.", "%(count)d flags resolved.", len(flags))
                % {"count": len(flags)},
            )
            return redirect("client_detail", client_id=flag.client_id)
    return _flag_page(request, flag, resolve_form=form, status=400)


@login_required
@require_POST
def flag_comment(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = selectors.flag_get_for_comment(request.user, flag_id)
    form = FlagCommentForm(request.POST)
    if form.is_valid():
        try:
            services.flag_comment_add(flag=flag, user=request.user, text=form.cleaned_data["text"])
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Comment added."))
            return redirect(reverse("flag_detail", args=[flag.pk]) + "#comments")
    return _flag_page(request, flag, comment_form=form, status=400)


# --- clinic administration: rule settings ------------------------------------------------


@login_required
def clinic_rules(request: HttpRequest) -> HttpResponse:
    """The clinic's rupture-rule settings, for its clinic admins; saving recomputes flags."""
    user = request.user
    if not (user.is_active and user.is_clinic_admin and user.clinic_id):
        raise Http404("Rule settings are for clinic admins.")
    clinic = user.clinic
    form = RuleSettingsForm(
        request.POST or None,
        current=selectors.clinic_rule_settings(clinic),
        scales=selectors.clinic_rule_scales(clinic),
    )
    if request.method == "POST":
        if form.is_valid():
            try:
                _clinic, result = services.clinic_rule_settings_update(
                    clinic=clinic, user=user, rule_settings=form.rule_settings()
                )
            except ValidationError as exc:
                add_validation_error(form, exc)
            else:
                messages.success(
                    request,
                    _(
                        "Rule settings saved. Flags recomputed for %(clients)d clients: "
                        "%(created)d new, %(retired)d no longer apply, %(back)d apply again."
                    )
                    % {
                        "clients": result.clients,
                        "created": result.created,
                        "retired": result.retired,
                        "back": result.unretired,
                    },
                )
                return redirect("clinic_rules")
        return render(request, "alliance/flags/rules.html", {"form": form}, status=400)
    return render(request, "alliance/flags/rules.html", {"form": form})
