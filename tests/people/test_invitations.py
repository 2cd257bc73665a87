"""Invitations: a clinic admin adds a person (or removes their password) and the person gets
their set-password link by email, with their two-factor setup link where the clinic asks
for one; a message that cannot be sent is said on the admin's page, never a server error."""

import re

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client as BrowserClient
from django.urls import reverse

from alliance.models import User

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a long new passphrase 42"


def add_person(client, **fields):
    data = {
        "username": "new.therapist",
        "first_name": "Nia",
        "is_therapist": "on",
        "language": "en",
        **fields,
    }
    response = client.post(reverse("clinic_user_create"), data)
    assert response.status_code == 302
    return User.objects.get(username="new.therapist"), [
        str(m) for m in get_messages(response.wsgi_request)
    ]


def links_in(body: str) -> list[str]:
    return re.findall(r"https?://\S+", body)


def test_a_new_person_gets_their_set_password_link_by_email(client, clinic_admin, settings):
    settings.ALLIANCE_BASE_URL = "https://alliance.riverside.example"
    client.force_login(clinic_admin)
    person, said = add_person(client, email="nia.obi@riverside.example")
    assert said == [
        "Nia added. Their set-password link went to nia.obi@riverside.example; it is also below."
    ]
    [message] = mail.outbox
    assert message.to == ["nia.obi@riverside.example"]
    assert message.subject == "Your Alliance account at Riverside Counselling"
    assert "new.therapist" in message.body
    [link] = links_in(message.body)
    assert link.startswith("https://alliance.riverside.example/set-password/")

    browser = BrowserClient()
    page = browser.get(link.removeprefix(settings.ALLIANCE_BASE_URL), follow=True)
    form_url = page.redirect_chain[-1][0]
    browser.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    person.refresh_from_db()
    assert person.check_password(NEW_PASSWORD)


def test_the_invitation_is_in_the_language_the_admin_chose_for_them(client, clinic_admin):
    client.force_login(clinic_admin)
    assert 'value="en" selected' in client.get(reverse("clinic_user_create")).content.decode()
    person, _said = add_person(client, email="nia.obi@riverside.example", language="es")
    assert person.language == "es"
    [message] = mail.outbox
    assert message.subject == "Su cuenta de Alliance en Riverside Counselling"


def test_the_two_factor_setup_link_stays_on_the_admins_page(clinic_admin):
    """Whoever reads the mailbox first must not both set the password and choose the app."""
    from tests.conftest import browser_past_second_factor

    clinic_admin.clinic.require_two_factor = True
    clinic_admin.clinic.save()
    browser = browser_past_second_factor(clinic_admin)
    person, _said = add_person(browser, email="nia.obi@riverside.example")
    [message] = mail.outbox
    [password_link] = links_in(message.body)
    assert "/set-password/" in password_link
    assert "ask your clinic admin for your two-factor setup link" in message.body
    page = browser.get(reverse("clinic_user", args=[person.pk])).content.decode()
    assert "/account/two-factor/enrol/" in page


def test_without_an_address_the_admin_gives_the_link(client, clinic_admin):
    client.force_login(clinic_admin)
    _person, said = add_person(client)
    assert said == ["Nia added. Give them the set-password link below."]
    assert mail.outbox == []


def test_a_message_that_cannot_be_sent_is_said_not_a_server_error(
    client, clinic_admin, smtp_unreachable, caplog
):
    client.force_login(clinic_admin)
    person, said = add_person(client, email="nia.obi@riverside.example")
    assert said == [
        "Nia added. The email to nia.obi@riverside.example could not be sent: give them the "
        "link below."
    ]
    assert not person.has_usable_password()
    assert "nia.obi" not in caplog.text
    page = client.get(reverse("clinic_user", args=[person.pk])).content.decode()
    assert "/set-password/" in page


def test_removing_a_password_sends_a_fresh_link(client, clinic_admin, therapist):
    therapist.email = "dana@riverside.example"
    therapist.save()
    client.force_login(clinic_admin)
    client.post(reverse("clinic_user_password_reset", args=[therapist.pk]))
    [message] = mail.outbox
    assert message.to == ["dana@riverside.example"]
    assert "/set-password/" in links_in(message.body)[0]


def test_the_message_is_in_the_language_of_the_page_that_sends_it(client, clinic_admin):
    client.force_login(clinic_admin)
    client.post(
        reverse("clinic_user_create"),
        {"username": "nueva", "first_name": "Ana", "email": "ana@riverside.example",
         "is_therapist": "on"},
        HTTP_ACCEPT_LANGUAGE="es",
    )  # fmt: skip
    [message] = mail.outbox
    assert message.subject == "Su cuenta de Alliance en Riverside Counselling"
