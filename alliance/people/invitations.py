"""Set-password links by email: a new colleague's invitation, and "Forgot your password?".

Their two-factor setup link, where the clinic asks for one, is not in the message: it stays
on the admin's page, another channel, so that whoever reads the mailbox first cannot both
choose the password and register their own authenticator app (docs/security.md, V2).
"""

import unicodedata

from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.utils import translation

from alliance.models import User
from alliance.notify.email import email_send
from alliance.people.services import user_password_link
from alliance.security.two_factor import two_factor_required


def invitation_send(*, user: User) -> bool:
    """Email the person their set-password link: the clinic's name, their username and the
    link, nothing else, in their language (User.language, which the admin chose when adding
    them). False when they have no address, already have a password, or the message could
    not be sent (the admin's page shows the link either way, and says which)."""
    if not user.email or not user.is_active or user.has_usable_password():
        return False
    context = {
        "user": user,
        "password_link": settings.ALLIANCE_BASE_URL + user_password_link(user=user),
        "second_factor": two_factor_required(user),
    }
    with translation.override(user.language):
        return email_send(
            subject=render_to_string("registration/invitation_subject.txt", context),
            body=render_to_string("registration/invitation_email.txt", context),
            to=user.email,
            what=f"invitation, user {user.pk}",
        )


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's form, sending to every active person with the address, with a password or
    not: a colleague whose password an admin removed may choose one by email too. A
    message that cannot be sent is logged, never raised (email_send)."""

    def get_users(self, email):
        people = get_user_model()._default_manager.filter(email__iexact=email, is_active=True)
        # As Django's own form: the database's iexact, then the Unicode case-insensitive
        # comparison of UTR 36 (2.11.2(B)(2)), so a look-alike address never matches.
        typed = _folded(email)
        return (person for person in people if _folded(person.email) == typed)

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        email_send(
            subject=render_to_string(subject_template_name, context),
            body=render_to_string(email_template_name, context),
            to=to_email,
            what=f"password reset, user {context['user'].pk}",
        )


def _folded(address: str) -> str:
    return unicodedata.normalize("NFKC", address).casefold()


def password_reset_send(*, email: str, language: str) -> None:
    """Send a set-password link to each active person with the address ``email`` (none
    when nobody has it), in ``language``, the language of the page that asked. The message
    holds the clinic's name, the username and the link, built on ALLIANCE_BASE_URL (never
    on a request's Host header), nothing else."""
    form = PasswordResetForm({"email": email})
    if not form.is_valid():
        return
    with translation.override(language):
        form.save(
            domain_override=settings.ALLIANCE_BASE_URL,
            subject_template_name="registration/password_reset_subject.txt",
            email_template_name="registration/password_reset_email.txt",
            extra_email_context={"base_url": settings.ALLIANCE_BASE_URL},
        )
