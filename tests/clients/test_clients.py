import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.urls import reverse

from alliance.clients import selectors as client_selectors
from alliance.clients import services as client_services
from alliance.models import Client, ClientTransfer
from tests.factories import ClientFactory, ClinicFactory, TherapistFactory

pytestmark = pytest.mark.django_db


class TestCodeSuggestion:
    def test_the_first_code_uses_the_clinics_initial(self, clinic):
        assert client_selectors.client_code_suggest(clinic) == "R-0001"

    def test_the_next_code_follows_the_highest(self, therapist):
        ClientFactory(primary_therapist=therapist, code="R-0007")
        ClientFactory(primary_therapist=therapist, code="R-0041")
        ClientFactory(primary_therapist=therapist, code="R-9x")  # not in the sequence
        ClientFactory(primary_therapist=therapist, code="OLD-0100")
        assert client_selectors.client_code_suggest(therapist.clinic) == "R-0042"

    def test_other_clinics_do_not_count(self, therapist):
        ClientFactory(primary_therapist__clinic=ClinicFactory(name="Rosewood"), code="R-0099")
        assert client_selectors.client_code_suggest(therapist.clinic) == "R-0001"

    def test_a_clinic_name_without_latin_letters_gets_c(self):
        assert client_selectors.client_code_suggest(ClinicFactory(name="123 診所")) == "C-0001"


class TestClientCreate:
    def test_an_empty_code_gets_the_suggestion(self, therapist):
        client = client_services.client_create(clinic=therapist.clinic, primary_therapist=therapist)
        assert client.code == "R-0001"
        assert client.status == Client.Status.ACTIVE

    def test_a_lost_race_for_the_suggested_code_takes_the_next(self, therapist, monkeypatch):
        ClientFactory(primary_therapist=therapist, code="R-0001")
        suggestions = iter(["R-0001", "R-0002"])  # the first one was taken meanwhile
        monkeypatch.setattr(
            client_services, "client_code_suggest", lambda clinic: next(suggestions)
        )
        monkeypatch.setattr(Client, "full_clean", lambda self: None)
        client = client_services.client_create(clinic=therapist.clinic, primary_therapist=therapist)
        assert client.code == "R-0002"

    def test_a_taken_code_is_refused_next_to_the_field(self, therapist):
        ClientFactory(primary_therapist=therapist, code="R-0001")
        with pytest.raises(ValidationError) as excinfo:
            client_services.client_create(
                clinic=therapist.clinic, primary_therapist=therapist, code="r-0001"
            )
        assert excinfo.value.message_dict == {
            "code": ["A client with the code r-0001 already exists in your clinic."]
        }

    @pytest.mark.parametrize("code", ["Jane Doe", "-R1", "R/1", "R 1", "é-1"])
    def test_codes_are_plain_identifiers(self, therapist, code):
        with pytest.raises(ValidationError, match="Never the client's name"):
            client_services.client_create(
                clinic=therapist.clinic, primary_therapist=therapist, code=code
            )

    def test_the_primary_therapist_works_in_the_clinic(self, therapist):
        outsider = TherapistFactory(clinic=ClinicFactory(name="Elsewhere"))
        with pytest.raises(ValidationError):
            client_services.client_create(clinic=therapist.clinic, primary_therapist=outsider)


def test_a_therapist_adds_a_client_with_the_suggested_code(client, therapist):
    client.force_login(therapist)
    page = client.get(reverse("client_create"))
    assert 'value="R-0001"' in page.content.decode()
    response = client.post(
        reverse("client_create"), {"code": "R-0001", "display_name": "J.D.", "language": "es"}
    )
    created = Client.objects.get(code="R-0001")
    assert response.url == created.get_absolute_url()
    assert (created.primary_therapist, created.language, created.display_name) == (
        therapist,
        "es",
        "J.D.",
    )
    follow = client.get(response.url)
    assert "Client R-0001 added." in follow.content.decode()


def test_a_failed_client_form_keeps_every_value(client, therapist):
    ClientFactory(primary_therapist=therapist, code="R-0001")
    client.force_login(therapist)
    response = client.post(
        reverse("client_create"),
        {
            "code": "R-0001",
            "display_name": "A.B.",
            "language": "es",
            "show_scores_to_client": "on",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["form"].errors
    assert 'value="R-0001"' in html
    assert 'value="A.B."' in html
    assert '<option value="es" selected>' in html
    assert 'name="show_scores_to_client" id="id_show_scores_to_client" checked' in html
    assert Client.objects.count() == 1


def test_a_clinic_admin_chooses_the_primary_therapist(client, clinic_admin, therapist):
    client.force_login(clinic_admin)
    response = client.post(
        reverse("client_create"),
        {"code": "R-0005", "language": "en", "primary_therapist": therapist.pk},
    )
    assert response.status_code == 302
    assert Client.objects.get(code="R-0005").primary_therapist == therapist


def test_an_admin_cannot_assign_another_clinics_therapist(client, clinic_admin):
    outsider = TherapistFactory(clinic=ClinicFactory(name="Elsewhere"))
    client.force_login(clinic_admin)
    response = client.post(
        reverse("client_create"),
        {"code": "R-0005", "language": "en", "primary_therapist": outsider.pk},
    )
    assert response.status_code == 200
    assert "primary_therapist" in response.context["form"].errors
    assert not Client.objects.exists()


def test_a_supervisor_cannot_add_clients(client, supervisor):
    client.force_login(supervisor)
    assert client.get(reverse("client_create")).status_code == 404
    assert client.post(reverse("client_create"), {"code": "R-1"}).status_code == 404


class TestEditAndDischarge:
    def test_discharging_records_when_and_reactivating_clears_it(self, client_of_therapist):
        fields = {
            "code": "R-0001",
            "display_name": "",
            "language": "en",
            "show_scores_to_client": False,
        }
        client_services.client_update(client=client_of_therapist, status="discharged", **fields)
        client_of_therapist.refresh_from_db()
        assert client_of_therapist.status == "discharged"
        assert client_of_therapist.discharged_at is not None
        client_services.client_update(client=client_of_therapist, status="active", **fields)
        client_of_therapist.refresh_from_db()
        assert client_of_therapist.discharged_at is None

    def test_the_edit_page_saves_and_says_so(self, client, client_of_therapist):
        client.force_login(client_of_therapist.primary_therapist)
        response = client.post(
            reverse("client_edit", args=[client_of_therapist.pk]),
            {"code": "R-0100", "display_name": "K", "language": "en", "status": "discharged"},
            follow=True,
        )
        assert "Client R-0100 saved." in response.content.decode()
        client_of_therapist.refresh_from_db()
        assert client_of_therapist.status == "discharged"

    def test_a_failed_edit_keeps_what_was_typed(self, client, client_of_therapist):
        ClientFactory(primary_therapist=client_of_therapist.primary_therapist, code="R-0002")
        client.force_login(client_of_therapist.primary_therapist)
        response = client.post(
            reverse("client_edit", args=[client_of_therapist.pk]),
            {"code": "R-0002", "display_name": "Z.Z.", "language": "es", "status": "discharged"},
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert 'value="R-0002"' in html and 'value="Z.Z."' in html
        assert '<option value="discharged" selected>' in html
        client_of_therapist.refresh_from_db()
        assert client_of_therapist.code == "R-0001"

    def test_a_discharged_client_gets_no_new_sessions(self, client, client_of_therapist):
        from django.utils import timezone

        from sessions.services import session_schedule

        client_of_therapist.status = "discharged"
        client_of_therapist.discharged_at = timezone.now()
        client_of_therapist.save()
        with pytest.raises(ValidationError, match="discharged"):
            session_schedule(
                client=client_of_therapist,
                therapist=client_of_therapist.primary_therapist,
                starts_at=timezone.now(),
            )


class TestTransfer:
    def test_transfer_changes_the_therapist_and_keeps_history(
        self, client_of_therapist, therapist, other_therapist, clinic_admin
    ):
        client_services.client_transfer(
            client=client_of_therapist,
            to_therapist=other_therapist,
            transferred_by=clinic_admin,
            note="Caseload balance",
        )
        client_services.client_transfer(
            client=client_of_therapist, to_therapist=therapist, transferred_by=clinic_admin
        )
        client_of_therapist.refresh_from_db()
        assert client_of_therapist.primary_therapist == therapist
        history = list(ClientTransfer.objects.filter(client=client_of_therapist))
        assert [(t.from_therapist, t.to_therapist) for t in reversed(history)] == [
            (therapist, other_therapist),
            (other_therapist, therapist),
        ]

    def test_transfer_to_the_same_therapist_is_refused(self, client_of_therapist, clinic_admin):
        with pytest.raises(ValidationError, match="already the primary therapist"):
            client_services.client_transfer(
                client=client_of_therapist,
                to_therapist=client_of_therapist.primary_therapist,
                transferred_by=clinic_admin,
            )

    def test_only_a_clinic_admin_transfers(self, client_of_therapist, other_therapist, therapist):
        with pytest.raises(ValidationError):
            client_services.client_transfer(
                client=client_of_therapist, to_therapist=other_therapist, transferred_by=therapist
            )

    def test_the_history_shows_on_the_client_page(
        self, client, client_of_therapist, other_therapist, clinic_admin
    ):
        client.force_login(clinic_admin)
        response = client.post(
            reverse("client_transfer", args=[client_of_therapist.pk]),
            {"to_therapist": other_therapist.pk, "note": "Moved to evenings"},
            follow=True,
        )
        html = response.content.decode()
        assert f"R-0001 is now with {other_therapist}." in html
        assert "Transfers" in html and "Moved to evenings" in html
        client.force_login(other_therapist)  # the new therapist now sees the client
        assert client.get(client_of_therapist.get_absolute_url()).status_code == 200

    def test_the_transfer_form_offers_only_other_active_therapists_of_the_clinic(
        self, client, client_of_therapist, other_therapist, clinic_admin
    ):
        inactive = TherapistFactory(clinic=clinic_admin.clinic, is_active=False)
        TherapistFactory(clinic=ClinicFactory(name="Elsewhere"))
        client.force_login(clinic_admin)
        form = client.get(reverse("client_transfer", args=[client_of_therapist.pk])).context["form"]
        choices = list(form.fields["to_therapist"].queryset)
        assert choices == [other_therapist]
        assert inactive not in choices


def test_the_code_is_unique_per_clinic_in_the_database(therapist):
    ClientFactory(primary_therapist=therapist, code="R-0001")
    with pytest.raises(IntegrityError):
        Client.objects.create(clinic=therapist.clinic, primary_therapist=therapist, code="R-0001")
