"""The home page (where each role starts) and the password pages.

Client pages are in alliance/clients/views.py, the clinic admin's in alliance/people/views.py.

Every view starts from a scoped selector: what the user may not see answers 404, and what
they may see but not change answers 404 to a write as well.
"""

import unicodedata

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

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


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's form, sending to every active person with the address, with a password or
    not: a colleague whose password an admin removed may choose one by email too."""

    def get_users(self, email):
        people = get_user_model()._default_manager.filter(email__iexact=email, is_active=True)
        # As Django's own form: the database's iexact, then the Unicode case-insensitive
        # comparison of UTR 36 (2.11.2(B)(2)), so a look-alike address never matches.
        typed = _folded(email)
        return (person for person in people if _folded(person.email) == typed)


def _folded(address: str) -> str:
    return unicodedata.normalize("NFKC", address).casefold()


class PasswordResetView(auth_views.PasswordResetView):
    """ "Forgot your password?": a set-password link by email (Django's token, the link an
    admin can also give). The page says the same whether or not the address is known. An
    address, and an email address typed, may ask ALLIANCE_PASSWORD_RESET_LIMIT times per
    ALLIANCE_PASSWORD_RESET_WINDOW; past it the form answers 429 and keeps what was typed.
    The message holds the clinic's name and the link, nothing else (the link is built on
    ALLIANCE_BASE_URL, never on the request's Host header)."""

    form_class = PasswordResetForm
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
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
        # Read when sending, as every setting is.
        self.extra_email_context = {"base_url": settings.ALLIANCE_BASE_URL}
        return super().form_valid(form)

    @staticmethod
    def _limited(request: HttpRequest, email: str) -> bool:
        limit = settings.ALLIANCE_PASSWORD_RESET_LIMIT
        window = settings.ALLIANCE_PASSWORD_RESET_WINDOW
        by_address = rate_limit_exceeded(request, "password_reset", limit=limit, window=window)
        # Keyed with the secret key: the cache never holds a hash a list of addresses undoes.
        typed = salted_hmac("alliance.password_reset", email.strip().lower()).hexdigest()
        by_email = limit_exceeded(f"password_reset:email:{typed}", limit=limit, window=window)
        return by_address or by_email
