"""Keep the tokens of links out of the logs: client form links, and the set-password and
two-factor setup links people get by email or from their admin.

A token in a URL is a credential: Django's request and development-server loggers write the
path, so this filter rewrites /f/<token>/... to /f/[redacted]/... (and the others' token
segment likewise) before any handler sees it. Wired in settings.LOGGING on the
"django.request" and "django.server" loggers, and in gunicorn's access log.
"""

import logging
import re

TOKEN_IN_PATH = re.compile(r"/f/[^/\s\"'?#]+")
REDACTED = "/f/[redacted]"
# /set-password/<uid>/<token>/ and /account/two-factor/enrol/<uid>/<token>/: the token.
ACCOUNT_TOKEN_IN_PATH = re.compile(
    r"(/(?:set-password|account/two-factor/enrol)/[^/\s\"'?#]+/)[^/\s\"'?#]+"
)


def redact_form_tokens(text: str) -> str:
    text = TOKEN_IN_PATH.sub(REDACTED, text)
    return ACCOUNT_TOKEN_IN_PATH.sub(r"\1[redacted]", text)


class RedactFormTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_form_tokens(message)
        if redacted != message:
            # The message is formatted once here, so no argument can bring the token back.
            record.msg = redacted
            record.args = ()
        return True
