"""The notices page (a therapist's alerts: newest first, unread marked, mark read) and a
person's own settings (email alerts, language).

Every notice is the user's own and about a client they may see now
(``alliance.notify.selectors``); anyone else's answers 404."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alliance.forms import add_validation_error
from alliance.notify import selectors, services
from alliance.notify.forms import UserSettingsForm
from alliance.pagination import paginate


@login_required
def notice_list(request: HttpRequest) -> HttpResponse:
    page = paginate(request, selectors.notices_for(request.user))
    return render(request, "notify/notice_list.html", {"page": page, "notices": page.object_list})


def _back(request: HttpRequest) -> HttpResponse:
    """Back to the page of the list the form was on."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect("notice_list")


@login_required
@require_POST
def notice_read(request: HttpRequest, notice_id: int) -> HttpResponse:
    services.notice_mark_read(notice=selectors.notice_get(request.user, notice_id))
    return _back(request)


@login_required
@require_POST
def notices_read_all(request: HttpRequest) -> HttpResponse:
    marked = services.notices_mark_all_read(user=request.user)
    if marked:
        messages.success(request, _("Every alert is marked read."))
    return _back(request)


@login_required
def user_settings(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = UserSettingsForm(
        request.POST or None, initial={"alert_email": user.alert_email, "language": user.language}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.user_settings_update(user=user, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            translation.activate(user.language)
            messages.success(request, _("Your settings are saved."))
            response = redirect("user_settings")
            # The pages follow the chosen language too (LocaleMiddleware reads the cookie).
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                user.language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
            return response
    status = 400 if request.method == "POST" else 200
    return render(request, "notify/user_settings.html", {"form": form}, status=status)
