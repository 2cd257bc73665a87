"""Production mode passes Django's deployment checks and sends the security headers; every
mode sends the Content-Security-Policy; error pages are friendly; templates hold no inline
script, event handler or style attribute (the CSP would block them)."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.urls import reverse
from django.views import defaults
from django.views.csrf import csrf_failure

ROOT = Path(settings.BASE_DIR)
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "alliance.example.org",
}


def run_in_production(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **PRODUCTION_ENV}
    # Not from this test run: the browser tests' async escape hatch, a debug switch.
    for name in ("DJANGO_DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_in_production_mode():
    result = run_in_production("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
response = Client().get("/api/v1/clients/", secure=True, HTTP_HOST="alliance.example.org")
print(json.dumps({
    "status": response.status_code,
    "headers": dict(response.items()),
    "debug": settings.DEBUG,
    "cookies_secure": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
    "ssl_redirect": settings.SECURE_SSL_REDIRECT,
}))
"""


def test_production_mode_sends_the_security_headers():
    result = run_in_production("-c", PROBE)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    headers = probe["headers"]
    assert probe["status"] == 401
    assert probe["debug"] is False
    assert probe["cookies_secure"] == [True, True]
    assert probe["ssl_redirect"] is True
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.django_db
def test_every_page_sends_the_content_security_policy(client, therapist):
    client.force_login(therapist)
    response = client.get(reverse("client_list"))
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no inline or eval'd script, no other origin
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert "https:" not in response["Content-Security-Policy"]  # nothing from a CDN
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_error_pages_are_friendly_and_show_no_debug_information(client, therapist):
    assert settings.DEBUG is False
    client.force_login(therapist)
    page = client.get("/no/such/page/")
    assert page.status_code == 404
    assert "Not found" in page.content.decode()
    request = RequestFactory().get("/")
    for response, text in [
        (defaults.server_error(request), "Something went wrong"),
        (defaults.bad_request(request, Exception("x")), "Bad request"),
        (defaults.permission_denied(request, Exception("x")), "Not allowed"),
        (csrf_failure(request, reason="no token"), "Please try again"),
    ]:
        body = response.content.decode()
        assert text in body
        assert "Traceback" not in body and "no token" not in body


TEMPLATE_DIRS = [ROOT / "templates"]
# A JSON data block (json_script) is never run, so the CSP lets it be.
INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\b(src=|type=\"application/json\"))[^>]*>", re.IGNORECASE
)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE)


def test_templates_have_no_inline_script_handler_or_style_attribute():
    problems = []
    for directory in TEMPLATE_DIRS:
        for path in sorted(directory.rglob("*.html")):
            text = path.read_text()
            for name, pattern in [
                ("inline <script>", INLINE_SCRIPT),
                ("on*= handler", EVENT_HANDLER),
                ("style= attribute", STYLE_ATTRIBUTE),
            ]:
                problems += [f"{path.relative_to(ROOT)}: {name}" for _ in pattern.finditer(text)]
    assert problems == []
