"""The home page (where each role starts) and the password pages.

Client pages are in alliance/clients/views.py, the clinic admin's in alliance/people/views.py.

Every view starts from a scoped selector: what the user may not see answers 404, and what
they may see but not change answers 404 to a write as well.
"""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _


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
