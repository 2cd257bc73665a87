"""The clinic admin's pages: the clinic's people, their roles and passwords, and supervision
links.

Every view starts from a scoped selector: a person outside the admin's clinic answers 404."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import user_has_device

from alliance.forms import add_validation_error
from alliance.models import Client, User
from alliance.people import selectors as people_selectors
from alliance.people import services as people_services
from alliance.people.forms import RolesForm, SupervisionForm, UserCreateForm
from alliance.people.invitations import invitation_send
from alliance.security import services as security_services
from alliance.security.two_factor import two_factor_required


def clinic_admin_of(request: HttpRequest) -> User:
    """The signed-in clinic admin, else 404 (every clinic administration page)."""
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
    admin = clinic_admin_of(request)
    return _clinic_page(request, admin, SupervisionForm(clinic_id=admin.clinic_id))


@login_required
def clinic_user_create(request: HttpRequest) -> HttpResponse:
    admin = clinic_admin_of(request)
    form = UserCreateForm(
        request.POST or None, initial={"is_therapist": True, "language": get_language()}
    )
    if request.method == "POST" and form.is_valid():
        try:
            person = people_services.user_create(clinic=admin.clinic, **form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            _invite(request, person, _("%(name)s added.") % {"name": person})
            return redirect("clinic_user", user_id=person.pk)
    return render(request, "alliance/clinic_user_form.html", {"form": form, "person": None})


@login_required
def clinic_user(request: HttpRequest, user_id: int) -> HttpResponse:
    """One person: their name and roles (editable), status and set-password link."""
    admin = clinic_admin_of(request)
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
    admin = clinic_admin_of(request)
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
    admin = clinic_admin_of(request)
    person = people_services.user_reactivate(user=people_selectors.clinic_user_get(admin, user_id))
    messages.success(request, _("%(name)s can log in again.") % {"name": person})
    return redirect("clinic_user", user_id=person.pk)


@login_required
@require_POST
def clinic_user_password_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = clinic_admin_of(request)
    person = people_selectors.clinic_user_get(admin, user_id)
    try:
        people_services.user_password_reset(user=person, changed_by=admin)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        _invite(
            request,
            person,
            _("%(name)s's password is removed and they are logged out.") % {"name": person},
        )
    return redirect("clinic_user", user_id=person.pk)


def _invite(request: HttpRequest, person: User, done: str) -> None:
    """Email the person their set-password link (``invitations.invitation_send``) and say
    what became of it after ``done``: sent, no address, or not sent."""
    if invitation_send(user=person):
        messages.success(
            request,
            _("%(done)s Their set-password link went to %(email)s; it is also below.")
            % {"done": done, "email": person.email},
        )
    elif person.email:
        messages.warning(
            request,
            _("%(done)s The email to %(email)s could not be sent: give them the link below.")
            % {"done": done, "email": person.email},
        )
    else:
        messages.success(
            request, _("%(done)s Give them the set-password link below.") % {"done": done}
        )


@login_required
@require_POST
def clinic_supervision_add(request: HttpRequest) -> HttpResponse:
    admin = clinic_admin_of(request)
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
    admin = clinic_admin_of(request)
    link = get_object_or_404(people_selectors.clinic_supervisions(admin), pk=supervision_id)
    people_services.supervision_remove(supervision=link)
    messages.success(request, _("Removed: %(link)s.") % {"link": link})
    return redirect(reverse("clinic") + "#supervision")
