"""Invitations: a new colleague's set-password link by email.

Their two-factor setup link, where the clinic asks for one, is not in the message: it stays
on the admin's page, another channel, so that whoever reads the mailbox first cannot both
choose the password and register their own authenticator app (docs/security.md, V2).
"""

from django.conf import settings
from django.template.loader import render_to_string

from alliance.models import User
from alliance.notify.email import email_send
from alliance.people.services import user_password_link
from alliance.security.two_factor import two_factor_required


def invitation_send(*, user: User) -> bool:
    """Email the person their set-password link: the clinic's name, their username and the
    link, nothing else, in the language of the page that sends it (people have no language
    of their own yet). False when they have no address, already have a password, or the
    message could not be sent (the admin's page shows the link either way, and says which)."""
    if not user.email or not user.is_active or user.has_usable_password():
        return False
    context = {
        "user": user,
        "password_link": settings.ALLIANCE_BASE_URL + user_password_link(user=user),
        "second_factor": two_factor_required(user),
    }
    return email_send(
        subject=render_to_string("registration/invitation_subject.txt", context),
        body=render_to_string("registration/invitation_email.txt", context),
        to=user.email,
        what=f"invitation, user {user.pk}",
    )
