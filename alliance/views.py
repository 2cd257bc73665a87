"""The home page (where each role starts) and the password pages.

Client pages are in alliance/clients/views.py, the clinic admin's in alliance/people/views.py.

Every view starts from a scoped selector: what the user may not see answers 404, and what
they may see but not change answers 404 to a write as well.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.crypto import salted_hmac
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from alliance.notify.tasks import password_reset_queue
from alliance.people.invitations import PasswordResetForm
from sessions.ratelimit import limit_exceeded, rate_limit_exceeded


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role's main page; a person with several roles starts at their caseload."""
    user = request.user
    if user.is_therapist:
        return redirect("caseload")
    if user.is_supervisor:
        return redirect("supervision")
    if user.is_clinic_admin:
        return redirect("clinic")
    if user.is_staff:
        return redirect("admin:index")
    return render(request, "alliance/no_role.html")


# --- passwords ---------------------------------------------------------------------------


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        messages.success(self.request, _("Your password is changed."))
        return super().form_valid(form)


class PasswordSetView(auth_views.PasswordResetConfirmView):
    """The page a new colleague's set-password link opens."""

    template_name = "registration/password_set_form.html"
    success_url = reverse_lazy("login")

    def form_valid(self, form):
        messages.success(self.request, _("Your password is set. Log in with it now."))
        return super().form_valid(form)


class PasswordResetView(auth_views.PasswordResetView):
    """ "Forgot your password?": a set-password link by email (Django's token, the link an
    admin can also give). The page says the same whether or not the address is known. An
    address, and an email address typed, may ask ALLIANCE_PASSWORD_RESET_LIMIT times per
    ALLIANCE_PASSWORD_RESET_WINDOW; past it the form answers 429 and keeps what was typed.
    The message (alliance/people/invitations.py) is sent by a job after the answer."""

    form_class = PasswordResetForm
    template_name = "registration/password_reset_form.html"
    success_url = reverse_lazy("password_reset_done")

    def post(self, request, *args, **kwargs):
        form = self.get_form()
        if form.is_valid() and self._limited(request, form.cleaned_data["email"]):
            form.add_error(
                None,
                _("Too many requests for a new password. Wait an hour, then try again."),
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        # Sent by a job, after the answer: the page takes as long whether or not the
        # address is known, so its timing does not tell either.
        password_reset_queue(email=form.cleaned_data["email"], language=get_language())
        return redirect(self.success_url)

    @staticmethod
    def _limited(request: HttpRequest, email: str) -> bool:
        limit = settings.ALLIANCE_PASSWORD_RESET_LIMIT
        window = settings.ALLIANCE_PASSWORD_RESET_WINDOW
        by_address = rate_limit_exceeded(request, "password_reset", limit=limit, window=window)
        # Keyed with the secret key: the cache never holds a hash a list of addresses undoes.
        typed = salted_hmac("alliance.password_reset", email.strip().lower()).hexdigest()
        by_email = limit_exceeded(f"password_reset:email:{typed}", limit=limit, window=window)
        return by_address or by_email
