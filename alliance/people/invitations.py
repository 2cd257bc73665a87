"""Invitations: a new colleague's set-password link (and two-factor setup link) by email.

Apart from people.services because the setup link is security.services', which itself
ends sessions through people.services.
"""

import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from alliance.models import User
from alliance.people.services import user_password_link
from alliance.security.services import two_factor_enrolment_link
from alliance.security.two_factor import two_factor_required

logger = logging.getLogger(__name__)


def invitation_send(*, user: User) -> bool:
    """Email the person their set-password link and, where their clinic requires a second
    factor, their two-factor setup link: the clinic's name, their username and the links,
    nothing else, in the language of the page that sends it. False when they have no
    address, already have a password, or the message could not be sent (the admin's page
    shows the links either way, and says which)."""
    if not user.email or not user.is_active or user.has_usable_password():
        return False
    base = settings.ALLIANCE_BASE_URL
    context = {
        "user": user,
        "password_link": base + user_password_link(user=user),
        "enrolment_link": (
            base + two_factor_enrolment_link(user=user) if two_factor_required(user) else None
        ),
    }
    try:
        send_mail(
            render_to_string("registration/invitation_subject.txt", context).strip(),
            render_to_string("registration/invitation_email.txt", context),
            None,
            [user.email],
        )
    except (OSError, smtplib.SMTPException):
        logger.exception("The invitation to user %s could not be sent", user.pk)
        return False
    return True
