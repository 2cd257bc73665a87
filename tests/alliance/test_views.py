import pytest
from django.urls import reverse

from tests.factories import ClientFactory, ClinicFactory, TherapistFactory

pytestmark = pytest.mark.django_db


def test_pages_ask_anonymous_users_to_log_in(client):
    response = client.get(reverse("caseload"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_login_page_renders_without_external_assets(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html
    assert "http://" not in html
    assert "https://" not in html


def test_therapist_logs_in_and_sees_their_caseload(client, therapist, other_therapist):
    ClientFactory(primary_therapist=therapist, code="R-0101")
    ClientFactory(primary_therapist=other_therapist, code="R-0202")
    response = client.post(
        reverse("login"),
        {"username": "therapist", "password": "correct horse battery"},
        follow=True,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "R-0101" in html
    assert "R-0202" not in html


def test_wrong_password_keeps_the_username_and_says_so(client, therapist):
    response = client.post(reverse("login"), {"username": "therapist", "password": "nope"})
    assert response.status_code == 200
    assert 'value="therapist"' in response.content.decode()
    assert response.context["form"].errors


def test_client_detail_of_another_therapists_client_is_404(client, therapist, other_therapist):
    foreign = ClientFactory(primary_therapist=other_therapist)
    client.force_login(therapist)
    assert client.get(reverse("client_detail", args=[foreign.pk])).status_code == 404


def test_client_detail_of_another_clinic_is_404_even_for_its_admin_peer(client, therapist):
    foreign = ClientFactory(primary_therapist=TherapistFactory(clinic=ClinicFactory(name="Far")))
    client.force_login(therapist)
    assert client.get(reverse("client_detail", args=[foreign.pk])).status_code == 404


def test_own_client_detail_renders(client, client_of_therapist):
    client.force_login(client_of_therapist.primary_therapist)
    response = client.get(reverse("client_detail", args=[client_of_therapist.pk]))
    assert response.status_code == 200
    assert client_of_therapist.code in response.content.decode()
