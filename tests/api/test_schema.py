"""The OpenAPI schema: generated without warnings, valid, covering every endpoint and its
errors; the interactive docs load only local static files."""

import io
import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.generators import EndpointEnumerator

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    return yaml.safe_load(out.getvalue())


def test_schema_generates_and_validates_without_warnings(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Alliance API"


def _api_routes() -> set[str]:
    """Every /api/v1/ route of the URLconf that DRF serves, as drf-spectacular names it."""
    return {
        endpoint[0].replace("{pk}", "{id}")
        for endpoint in EndpointEnumerator().get_api_endpoints()
        if endpoint[0].startswith("/api/v1/")
    }


def test_every_endpoint_is_described(schema):
    assert _api_routes() <= set(schema["paths"])
    assert {
        "/api/v1/auth/token/",
        "/api/v1/clients/",
        "/api/v1/clients/{id}/series/",
        "/api/v1/sessions/{id}/form-link/",
        "/api/v1/ratings/",
        "/api/v1/instruments/",
        "/api/v1/flags/",
        "/api/v1/episodes/",
        "/api/v1/episodes/{id}/acknowledge/",
        "/api/v1/caseload/",
        "/api/v1/supervision/",
        "/api/v1/exports/ratings.csv",
        "/api/v1/exports/ratings.xlsx",
        "/api/v1/imports/ratings/",
        "/api/v1/clients/{client_id}/fhir/",
        "/api/v1/fhir/bundle/",
    } <= set(schema["paths"])


def test_every_operation_documents_its_errors_in_the_one_shape(schema):
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            public = path == "/api/v1/auth/token/" and method == "post"
            expected = {"400", "404"} if public else {"400", "401", "403", "404"}
            assert expected <= set(operation["responses"]), (method, path)
            for code in expected:
                content = operation["responses"][code]["content"]
                assert content["application/json"]["schema"] == error, (method, path, code)


def test_list_parameters_are_described(schema):
    names = {p["name"] for p in schema["paths"]["/api/v1/sessions/"]["get"]["parameters"]}
    assert {
        "client",
        "status",
        "starts_from",
        "starts_to",
        "ordering",
        "page",
        "page_size",
    } <= names
    ordering = next(
        p
        for p in schema["paths"]["/api/v1/ratings/"]["get"]["parameters"]
        if p["name"] == "ordering"
    )
    assert "-submitted_at" in ordering["schema"]["items"]["enum"]


def test_schema_is_served(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert yaml.safe_load(response.content)["paths"]


def test_docs_use_local_files_only(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls, html
    for url in urls:
        if url.startswith("/static/"):
            assert finders.find(url.removeprefix("/static/")), url
        else:
            assert url == "/api/docs/?script=", url
    assert "cdn" not in html.lower()
    assert not re.search(r"https?://", html)
    # No inline script: it comes from the docs URL itself (a strict CSP allows 'self').
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts
    assert all('src="' in attributes and not body.strip() for attributes, body in scripts)
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert not re.search(r"https?://", script.content.decode())
