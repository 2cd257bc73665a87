"""Client pages: the caseloads (one therapist's, a supervisee's, every client), a client's
page, and adding, editing and transferring a client.

Every view starts from a scoped selector: what the user may not see answers 404, and what
they may see but not change answers 404 to a write as well."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alliance import dashboards
from alliance.clients import contacts
from alliance.clients import selectors as client_selectors
from alliance.clients import services as client_services
from alliance.clients.forms import (
    CaseloadFilterForm,
    ClientContactForm,
    ClientCreateForm,
    ClientEditForm,
    ClientTransferForm,
)
from alliance.flags import selectors as flag_selectors
from alliance.flags.text import client_episode_rows
from alliance.forms import add_validation_error
from alliance.models import User
from alliance.pagination import paginate
from alliance.people import selectors as people_selectors
from sessions import selectors as session_selectors

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


@login_required
def client_detail(request: HttpRequest, client_id: int) -> HttpResponse:
    user = request.user
    client = client_selectors.client_get(user, client_id)
    course = session_selectors.sessions_of_client(client, answers=False)
    rows = session_selectors.session_rows(course, user=user, language=get_language())
    to_rate = next((row for row in reversed(rows) if row.may_rate), None)
    # The rupture engine's input for this client, read once for the headlines and the chart.
    frame = flag_selectors.client_scores_frame(client)
    episodes = client_episode_rows(user, client, frame=frame)
    flags = [flag for row in episodes for flag in row.episode.evidence]
    return render(
        request,
        "alliance/client_detail.html",
        {
            "client": client,
            "rows": rows,
            "to_rate": to_rate,
            "episodes": episodes,
            "chart": dashboards.client_page_chart(
                client, sessions=course.sessions, flags=flags, frame=frame
            ),
            "transfers": list(client_selectors.client_transfers(client)),
            "contact_details": client.clinic.client_contact_details,
            "contact": contacts.client_contact_of(client),
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


def _client_with_contact_details(request: HttpRequest, client_id: int):
    """A client the user may change, in a clinic that stores client contact details."""
    client = client_selectors.client_get_for_change(request.user, client_id)
    if not client.clinic.client_contact_details:
        raise Http404("Your clinic does not store client contact details.")
    return client


@login_required
def client_contact(request: HttpRequest, client_id: int) -> HttpResponse:
    """Store or change the client's email address for reminders, with their consent."""
    client = _client_with_contact_details(request, client_id)
    contact = contacts.client_contact_of(client)
    form = ClientContactForm(
        request.POST or None,
        initial={"address": contact.address if contact else ""},
        stopped=bool(contact and contact.reminders_stopped_at),
    )
    if request.method == "POST" and form.is_valid():
        try:
            contacts.client_contact_record(
                client=client,
                address=form.cleaned_data["address"],
                recorded_by=request.user,
                resume_reminders=form.cleaned_data.get("resume_reminders", False),
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("The client's address is stored, with their consent."))
            return redirect(client)
    return render(
        request,
        "alliance/client_contact.html",
        {"form": form, "client": client, "contact": contact},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def client_contact_withdraw(request: HttpRequest, client_id: int) -> HttpResponse:
    """The client withdrew consent: their stored address is deleted."""
    client = _client_with_contact_details(request, client_id)
    if contacts.client_contact_withdraw(client=client, withdrawn_by=request.user):
        messages.success(request, _("The client's address is deleted: no more reminders."))
    return redirect(client)
