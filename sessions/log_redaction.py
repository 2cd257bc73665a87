"""Keep client form-link tokens out of the logs.

A token in a URL is a credential: Django's request and development-server loggers write the
path, so this filter rewrites /f/<token>/... to /f/[redacted]/... before any handler sees it.
Wired in settings.LOGGING on the "django.request" and "django.server" loggers.
"""

import logging
import re

TOKEN_IN_PATH = re.compile(r"/f/[^/\s\"'?#]+")
REDACTED = "/f/[redacted]"


def redact_form_tokens(text: str) -> str:
    return TOKEN_IN_PATH.sub(REDACTED, text)


class RedactFormTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_form_tokens(message)
        if redacted != message:
            # The message is formatted once here, so no argument can bring the token back.
            record.msg = redacted
            record.args = ()
        return True
