"""Clinician pages: caseloads, clients, supervision and clinic administration.

Every view starts from a scoped selector: what the user may not see answers 404, and what
they may see but not change answers 404 to a write as well.
"""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import user_has_device

from alliance import dashboards
from alliance.clients import selectors as client_selectors
from alliance.clients import services as client_services
from alliance.flags.text import client_episode_rows
from alliance.forms import (
    CaseloadFilterForm,
    ClientCreateForm,
    ClientEditForm,
    ClientTransferForm,
    RolesForm,
    SupervisionForm,
    UserCreateForm,
    add_validation_error,
)
from alliance.models import Client, User
from alliance.pagination import paginate
from alliance.people import selectors as people_selectors
from alliance.people import services as people_services
from alliance.security import services as security_services
from alliance.security.two_factor import two_factor_required
from sessions import selectors as session_selectors


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


# --- caseloads ---------------------------------------------------------------------------

# (sort key, column heading, direction of the first click): lowest alliance, biggest drop,
# most flags and longest without a client form come first.
CASELOAD_COLUMNS = [
    ("code", gettext_lazy("Client"), ""),
    ("therapist", gettext_lazy("Therapist"), ""),
    ("risk", gettext_lazy("Why"), ""),
    ("client_alliance", gettext_lazy("Client alliance"), ""),
    ("client_change", gettext_lazy("Change"), ""),
    ("therapist_alliance", gettext_lazy("Therapist alliance"), ""),
    ("therapist_change", gettext_lazy("Change"), ""),
    ("open_episodes", gettext_lazy("Open flags"), "-"),
    ("since_form", gettext_lazy("Sessions since client form"), "-"),
    ("last_session", gettext_lazy("Last session"), "-"),
    ("next_session", gettext_lazy("Next session"), ""),
]


def _sort_columns(sort: str, *, show_therapist: bool) -> list[dict]:
    """The caseload's column headings with the sort each one's link asks for."""
    columns = []
    key_now, descending = sort.removeprefix("-"), sort.startswith("-")
    for key, label, first in CASELOAD_COLUMNS:
        if key == "therapist" and not show_therapist:
            continue
        if key == key_now:  # a second click reverses the order
            next_sort, aria_sort = (key, "descending") if descending else (f"-{key}", "ascending")
        else:
            next_sort, aria_sort = f"{first}{key}", ""
        columns.append({"key": key, "label": label, "next_sort": next_sort, "aria_sort": aria_sort})
    return columns


def _caseload_page(
    request: HttpRequest,
    *,
    therapist: User | None,
    title: str,
    extra: dict | None = None,
    paginated: bool = False,
) -> HttpResponse:
    filters = CaseloadFilterForm(request.GET)
    values = filters.values()
    # Most at risk first unless another column is asked for (alliance/dashboards/risk.py).
    sort = values["sort"] = dashboards.caseload_sort(values["sort"])
    rows = dashboards.caseload_rows(request.user, therapist=therapist, **values)
    show_therapist = therapist is None  # every client's list: whose client each is
    columns = _sort_columns(sort, show_therapist=show_therapist)
    # Tells "no clients yet" (a new clinic) from "none match the search" when empty.
    has_any = bool(rows) or (
        client_selectors.caseload_for(request.user, therapist=therapist, include_discharged=True)
        .values("pk")
        .exists()
    )
    # A caseload is one therapist's; every client of a clinic can be thousands of rows.
    page = paginate(request, rows) if paginated else None
    context = {
        "title": title,
        "therapist": therapist,
        "show_therapist": show_therapist,
        "missing_forms_after": dashboards.missing_forms_after(request.user.clinic),
        "rows": page.object_list if page else rows,
        "client_count": len(rows),
        "page": page,
        "columns": columns,
        "filters": filters,
        "search": values["search"],
        "include_discharged": values["include_discharged"],
        "has_any": has_any,
        "may_add_client": request.user.is_therapist or request.user.is_clinic_admin,
        **(extra or {}),
    }
    return render(request, "alliance/caseload.html", context)


@login_required
def caseload(request: HttpRequest) -> HttpResponse:
    """The therapist's own caseload."""
    if not request.user.is_therapist:
        return redirect("home")
    return _caseload_page(request, therapist=request.user, title=_("Caseload"))


@login_required
def therapist_caseload(request: HttpRequest, therapist_id: int) -> HttpResponse:
    """A supervisee's caseload, read-only (clinic admins may open any therapist's)."""
    if therapist_id == request.user.pk and request.user.is_therapist:
        return redirect("caseload")
    therapist = people_selectors.supervisee_get(request.user, therapist_id)
    return _caseload_page(
        request,
        therapist=therapist,
        title=_("Caseload of %(name)s") % {"name": therapist},
        extra={"read_only": True},
    )


@login_required
def client_list(request: HttpRequest) -> HttpResponse:
    """Every client the user may see: a supervisor's supervisees', a clinic admin's clinic."""
    return _caseload_page(request, therapist=None, title=_("All clients"), paginated=True)


# --- clients -----------------------------------------------------------------------------


@login_required
def client_detail(request: HttpRequest, client_id: int) -> HttpResponse:
    user = request.user
    client = client_selectors.client_get(user, client_id)
    course = session_selectors.sessions_of_client(client)
    rows = session_selectors.session_rows(course, user=user, language=get_language())
    to_rate = next((row for row in reversed(rows) if row.may_rate), None)
    episodes = client_episode_rows(user, client)
    flags = [flag for row in episodes for flag in row.episode.evidence]
    return render(
        request,
        "alliance/client_detail.html",
        {
            "client": client,
            "rows": rows,
            "to_rate": to_rate,
            "episodes": episodes,
            "chart": dashboards.client_page_chart(client, sessions=course.sessions, flags=flags),
            "transfers": list(client_selectors.client_transfers(client)),
            "may_change": client_selectors.client_may_change(user, client),
            "may_add_session": client_selectors.client_may_add_session(user, client),
            "may_transfer": client_selectors.client_may_transfer(user, client),
        },
    )


@login_required
def client_create(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not (user.is_therapist or user.is_clinic_admin) or not user.clinic_id:
        raise Http404("Only therapists and clinic admins add clients.")
    form = ClientCreateForm(
        request.POST or None,
        user=user,
        initial={
            "code": client_selectors.client_code_suggest(user.clinic),
            "language": get_language(),
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            client = client_services.client_create(
                clinic=user.clinic,
                primary_therapist=data.get("primary_therapist") or user,
                code=data["code"],
                display_name=data["display_name"],
                language=data["language"],
                show_scores_to_client=data["show_scores_to_client"],
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Client %(code)s added.") % {"code": client.code})
            return redirect(client)
    return render(request, "alliance/client_form.html", {"form": form, "client": None})


@login_required
def client_edit(request: HttpRequest, client_id: int) -> HttpResponse:
    client = client_selectors.client_get_for_change(request.user, client_id)
    initial = {
        "code": client.code,
        "display_name": client.display_name,
        "language": client.language,
        "status": client.status,
        "show_scores_to_client": client.show_scores_to_client,
    }
    form = ClientEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            client_services.client_update(client=client, **form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Client %(code)s saved.") % {"code": client.code})
            return redirect(client)
    return render(request, "alliance/client_form.html", {"form": form, "client": client})


@login_required
def client_transfer(request: HttpRequest, client_id: int) -> HttpResponse:
    client = client_selectors.client_get(request.user, client_id)
    if not client_selectors.client_may_transfer(request.user, client):
        raise Http404("No client you may transfer matches the given query.")
    form = ClientTransferForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        try:
            client_services.client_transfer(
                client=client,
                to_therapist=form.cleaned_data["to_therapist"],
                transferred_by=request.user,
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(
                request,
                _("%(code)s is now with %(name)s.")
                % {"code": client.code, "name": client.primary_therapist},
            )
            return redirect(client)
    return render(request, "alliance/client_transfer.html", {"form": form, "client": client})


# --- supervision -------------------------------------------------------------------------
# The supervisor's dashboard, packets and the clinic overview: alliance/dashboards/views.py.


# --- clinic administration ---------------------------------------------------------------


def _clinic_admin(request: HttpRequest) -> User:
    if not (request.user.is_clinic_admin and request.user.clinic_id):
        raise Http404("Clinic administration is for clinic admins.")
    return request.user


def _clinic_page(
    request: HttpRequest, admin: User, supervision_form: SupervisionForm, status: int = 200
) -> HttpResponse:
    people = list(people_selectors.clinic_users(admin))
    therapists = [person for person in people if person.is_therapist and person.is_active]
    summaries = {s.therapist.pk: s for s in people_selectors.therapist_summaries(admin, therapists)}
    return render(
        request,
        "alliance/clinic.html",
        {
            "people": [(person, summaries.get(person.pk)) for person in people],
            "supervisions": list(people_selectors.clinic_supervisions(admin)),
            "supervision_form": supervision_form,
        },
        status=status,
    )


@login_required
def clinic(request: HttpRequest) -> HttpResponse:
    admin = _clinic_admin(request)
    return _clinic_page(request, admin, SupervisionForm(clinic_id=admin.clinic_id))


@login_required
def clinic_user_create(request: HttpRequest) -> HttpResponse:
    admin = _clinic_admin(request)
    form = UserCreateForm(request.POST or None, initial={"is_therapist": True})
    if request.method == "POST" and form.is_valid():
        try:
            person = people_services.user_create(clinic=admin.clinic, **form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(
                request,
                _("%(name)s added. Give them the set-password link below.") % {"name": person},
            )
            return redirect("clinic_user", user_id=person.pk)
    return render(request, "alliance/clinic_user_form.html", {"form": form, "person": None})


@login_required
def clinic_user(request: HttpRequest, user_id: int) -> HttpResponse:
    """One person: their name and roles (editable), status and set-password link."""
    admin = _clinic_admin(request)
    person = people_selectors.clinic_user_get(admin, user_id)
    initial = {name: getattr(person, name) for name in RolesForm.base_fields}
    form = RolesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            people_services.user_update(user=person, changed_by=admin, **form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("%(name)s saved.") % {"name": person})
            return redirect("clinic_user", user_id=person.pk)
    password_link = enrolment_link = None
    if person.is_active and not person.has_usable_password():
        password_link = request.build_absolute_uri(people_services.user_password_link(user=person))
    if (
        person.is_active
        and two_factor_required(person)
        and not user_has_device(person, confirmed=True)
    ):
        enrolment_link = request.build_absolute_uri(
            security_services.two_factor_enrolment_link(user=person)
        )
    return render(
        request,
        "alliance/clinic_user_form.html",
        {
            "form": form,
            "person": person,
            "password_link": password_link,
            "enrolment_link": enrolment_link,
            "active_clients": Client.objects.active().filter(primary_therapist=person).count(),
        },
    )


@login_required
@require_POST
def clinic_user_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = _clinic_admin(request)
    person = people_selectors.clinic_user_get(admin, user_id)
    try:
        ended = people_services.user_deactivate(user=person, changed_by=admin)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("%(name)s is deactivated and was logged out (%(count)d open sessions ended).")
            % {"name": person, "count": ended},
        )
    return redirect("clinic_user", user_id=person.pk)


@login_required
@require_POST
def clinic_user_reactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = _clinic_admin(request)
    person = people_services.user_reactivate(user=people_selectors.clinic_user_get(admin, user_id))
    messages.success(request, _("%(name)s can log in again.") % {"name": person})
    return redirect("clinic_user", user_id=person.pk)


@login_required
@require_POST
def clinic_user_password_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = _clinic_admin(request)
    person = people_selectors.clinic_user_get(admin, user_id)
    try:
        people_services.user_password_reset(user=person, changed_by=admin)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _(
                "%(name)s's password is removed and they are logged out. Give them the new "
                "set-password link below."
            )
            % {"name": person},
        )
    return redirect("clinic_user", user_id=person.pk)


@login_required
@require_POST
def clinic_supervision_add(request: HttpRequest) -> HttpResponse:
    admin = _clinic_admin(request)
    form = SupervisionForm(request.POST, clinic_id=admin.clinic_id)
    if form.is_valid():
        try:
            link = people_services.supervision_add(**form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("%(link)s.") % {"link": link})
            return redirect(reverse("clinic") + "#supervision")
    return _clinic_page(request, admin, form, status=400)


@login_required
@require_POST
def clinic_supervision_remove(request: HttpRequest, supervision_id: int) -> HttpResponse:
    admin = _clinic_admin(request)
    link = get_object_or_404(people_selectors.clinic_supervisions(admin), pk=supervision_id)
    people_services.supervision_remove(supervision=link)
    messages.success(request, _("Removed: %(link)s.") % {"link": link})
    return redirect(reverse("clinic") + "#supervision")


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
