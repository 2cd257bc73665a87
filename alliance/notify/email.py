"""Sending one email, for every message Alliance sends (form links, invitations).

A message that cannot be sent is logged and answered False, never raised: the page that
sends it says so instead of failing. Nothing about the recipient is logged: not the address
(a mail server's refusal quotes it), only the kind of failure and its SMTP code.
"""

import logging

from django.core.mail import EmailMessage

logger = logging.getLogger(__name__)


def email_send(
    *, subject: str, body: str, to: str, what: str, headers: dict[str, str] | None = None
) -> bool:
    """Send ``body`` to ``to`` from DEFAULT_FROM_EMAIL; False when it could not be sent.
    ``what`` names the message in the log ("form link, session 12"). The subject is one
    line whatever it was made from (a clinic's name could hold a line break). ``headers``
    are extra headers (a reminder's List-Unsubscribe)."""
    subject = " ".join(subject.split())
    try:
        EmailMessage(subject, body, None, [to], headers=headers).send()
    except Exception as exc:  # any backend's failure: SMTP, a provider's API (Anymail)...
        code = getattr(exc, "smtp_code", None) or getattr(exc, "status_code", None)
        logger.warning("Email not sent (%s): %s %s", what, type(exc).__name__, code or "")
        return False
    return True
