import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.test import Client as BrowserClient
from django.urls import reverse

from alliance.models import Supervision, User
from alliance.people import services as people_services
from tests.factories import ClinicFactory, SupervisorFactory, TherapistFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def sessions_of(user) -> int:
    return sum(1 for s in Session.objects.all() if s.get_decoded().get(SESSION_KEY) == str(user.pk))


class TestDeactivation:
    def test_deactivation_ends_every_login_session_at_once(self, client, clinic_admin, therapist):
        laptop, tablet = BrowserClient(), BrowserClient()
        assert laptop.login(request=HttpRequest(), username="therapist", password=PASSWORD)
        assert tablet.login(request=HttpRequest(), username="therapist", password=PASSWORD)
        assert laptop.get(reverse("caseload")).status_code == 200
        bystander = BrowserClient()
        bystander.force_login(clinic_admin)
        assert sessions_of(therapist) == 2

        client.force_login(clinic_admin)
        response = client.post(reverse("clinic_user_deactivate", args=[therapist.pk]), follow=True)
        assert "logged out (2 open sessions ended)" in response.content.decode()

        assert sessions_of(therapist) == 0
        assert sessions_of(clinic_admin) == 2  # the admin's own sessions are untouched
        for device in (laptop, tablet):
            response = device.get(reverse("caseload"))
            assert response.status_code == 302
            assert response.url.startswith(reverse("login"))
        assert not BrowserClient().login(
            request=HttpRequest(), username="therapist", password=PASSWORD
        )

    def test_an_admin_cannot_deactivate_themselves(self, client, clinic_admin):
        client.force_login(clinic_admin)
        response = client.post(
            reverse("clinic_user_deactivate", args=[clinic_admin.pk]), follow=True
        )
        assert "You cannot deactivate your own account." in response.content.decode()
        clinic_admin.refresh_from_db()
        assert clinic_admin.is_active

    def test_reactivation_lets_them_log_in_again(self, client, clinic_admin, therapist):
        people_services.user_deactivate(user=therapist, changed_by=clinic_admin)
        client.force_login(clinic_admin)
        client.post(reverse("clinic_user_reactivate", args=[therapist.pk]))
        assert BrowserClient().login(request=HttpRequest(), username="therapist", password=PASSWORD)

    def test_the_page_warns_about_clients_still_with_them(
        self, client, clinic_admin, client_of_therapist, therapist
    ):
        client.force_login(clinic_admin)
        html = client.get(reverse("clinic_user", args=[therapist.pk])).content.decode()
        assert "1 active client still has this person as primary therapist" in html

    def test_get_is_not_allowed_for_account_actions(self, client, clinic_admin, therapist):
        client.force_login(clinic_admin)
        response = client.get(reverse("clinic_user_deactivate", args=[therapist.pk]))
        assert response.status_code == 405
        therapist.refresh_from_db()
        assert therapist.is_active


class TestNewPeople:
    def test_a_new_person_sets_their_own_password_through_the_link(self, client, clinic_admin):
        client.force_login(clinic_admin)
        response = client.post(
            reverse("clinic_user_create"),
            {
                "username": "new.therapist",
                "first_name": "Nia",
                "last_name": "Obi",
                "is_therapist": "on",
            },
            follow=True,
        )
        person = User.objects.get(username="new.therapist")
        assert (person.clinic, person.is_therapist, person.is_supervisor) == (
            clinic_admin.clinic,
            True,
            False,
        )
        assert not person.has_usable_password()
        link = response.context["password_link"]
        assert link.startswith("http://testserver/set-password/")

        newcomer = BrowserClient()
        form_page = newcomer.get(link, follow=True)
        assert "Choose your password" in form_page.content.decode()
        done = newcomer.post(
            form_page.redirect_chain[-1][0],
            {
                "new_password1": "a long fresh passphrase",
                "new_password2": "a long fresh passphrase",
            },
            follow=True,
        )
        assert "Your password is set" in done.content.decode()
        assert newcomer.login(
            request=HttpRequest(), username="new.therapist", password="a long fresh passphrase"
        )
        # The link works once.
        assert "no longer works" in BrowserClient().get(link, follow=True).content.decode()

    def test_a_failed_user_form_keeps_every_value(self, client, clinic_admin, therapist):
        client.force_login(clinic_admin)
        response = client.post(
            reverse("clinic_user_create"),
            {
                "username": "therapist",  # taken
                "first_name": "Ana",
                "last_name": "Ruiz",
                "email": "not-an-email",
                "is_supervisor": "on",
            },
        )
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert set(errors) == {"email"}  # the username is checked once the form is valid
        html = response.content.decode()
        for value in ['value="therapist"', 'value="Ana"', 'value="Ruiz"', 'value="not-an-email"']:
            assert value in html
        assert 'name="is_supervisor" id="id_is_supervisor" checked' in html

        response = client.post(
            reverse("clinic_user_create"), {"username": "therapist", "first_name": "Ana"}
        )
        assert "username" in response.context["form"].errors
        assert 'value="Ana"' in response.content.decode()

    def test_a_reset_removes_the_password_and_logs_them_out(self, client, clinic_admin, therapist):
        device = BrowserClient()
        device.login(request=HttpRequest(), username="therapist", password=PASSWORD)
        client.force_login(clinic_admin)
        response = client.post(
            reverse("clinic_user_password_reset", args=[therapist.pk]), follow=True
        )
        therapist.refresh_from_db()
        assert not therapist.has_usable_password()
        assert sessions_of(therapist) == 0
        assert response.context["password_link"]


class TestRoles:
    def test_roles_are_edited(self, client, clinic_admin, therapist):
        client.force_login(clinic_admin)
        client.post(
            reverse("clinic_user", args=[therapist.pk]),
            {"first_name": "T", "last_name": "One", "is_therapist": "on", "is_supervisor": "on"},
        )
        therapist.refresh_from_db()
        assert therapist.roles == ["therapist", "supervisor"]

    def test_an_admin_keeps_their_own_admin_role(self, clinic_admin):
        with pytest.raises(ValidationError, match="own clinic-admin role"):
            people_services.user_update(
                user=clinic_admin,
                changed_by=clinic_admin,
                first_name="",
                last_name="",
                email="",
                is_therapist=True,
                is_supervisor=False,
                is_clinic_admin=False,
            )


class TestSupervisionLinks:
    def test_add_and_remove_a_link(self, client, clinic_admin, therapist):
        supervisor = SupervisorFactory(clinic=clinic_admin.clinic, username="sup")
        client.force_login(clinic_admin)
        response = client.post(
            reverse("clinic_supervision_add"),
            {"supervisor": supervisor.pk, "therapist": therapist.pk},
            follow=True,
        )
        link = Supervision.objects.get(supervisor=supervisor, therapist=therapist)
        assert f"{supervisor} supervises {therapist}" in response.content.decode()
        client.post(reverse("clinic_supervision_remove", args=[link.pk]))
        assert not Supervision.objects.exists()

    def test_a_duplicate_link_is_explained(self, client, clinic_admin, supervision):
        client.force_login(clinic_admin)
        response = client.post(
            reverse("clinic_supervision_add"),
            {"supervisor": supervision.supervisor.pk, "therapist": supervision.therapist.pk},
        )
        assert response.status_code == 400
        assert response.context["supervision_form"].non_field_errors() == [
            f"{supervision.supervisor} already supervises {supervision.therapist}."
        ]
        assert Supervision.objects.count() == 1

    def test_people_from_another_clinic_cannot_be_linked(self, client, clinic_admin, therapist):
        outsider = SupervisorFactory(clinic=ClinicFactory(name="Elsewhere"))
        client.force_login(clinic_admin)
        response = client.post(
            reverse("clinic_supervision_add"),
            {"supervisor": outsider.pk, "therapist": therapist.pk},
        )
        assert response.status_code == 400
        assert "supervisor" in response.context["supervision_form"].errors
        assert not Supervision.objects.exists()

    def test_another_clinics_link_cannot_be_removed(self, client, other_clinic_admin, supervision):
        client.force_login(other_clinic_admin)
        response = client.post(reverse("clinic_supervision_remove", args=[supervision.pk]))
        assert response.status_code == 404
        assert Supervision.objects.filter(pk=supervision.pk).exists()

    def test_a_supervisor_needs_the_role(self, clinic):
        therapist_a, therapist_b = TherapistFactory(clinic=clinic), TherapistFactory(clinic=clinic)
        with pytest.raises(ValidationError, match="supervisor role"):
            people_services.supervision_add(supervisor=therapist_a, therapist=therapist_b)


def test_the_password_page_changes_the_password(client, therapist):
    client.force_login(therapist)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another long passphrase",
            "new_password2": "another long passphrase",
        },
        follow=True,
    )
    assert "Your password is changed." in response.content.decode()
    therapist.refresh_from_db()
    assert therapist.check_password("another long passphrase")
