"""Long lists come in pages (alliance.pagination): 25 a page, ?page_size= up to 250, and a bad
page number gives the first or the last page, never an error."""

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alliance.pagination import MAX_PAGE_SIZE, page_size
from tests.factories import ClientFactory, SupervisionFactory, TherapistFactory

pytestmark = pytest.mark.django_db

URL = reverse("client_list")


@pytest.mark.parametrize(
    ("given", "size"),
    [(None, 25), ("10", 10), ("1000", MAX_PAGE_SIZE), ("0", 1), ("-3", 1), ("many", 25)],
)
def test_page_size_is_bounded(given, size):
    request = RequestFactory().get("/", {} if given is None else {"page_size": given})
    assert page_size(request) == size


@pytest.fixture
def thirty_clients(client, therapist):
    client.force_login(therapist)
    return [ClientFactory(primary_therapist=therapist, code=f"P-{i:02d}") for i in range(30)]


def codes(response) -> list[str]:
    return [row.client.code for row in response.context["rows"]]


def test_all_clients_come_25_a_page(client, thirty_clients):
    first = client.get(URL, {"sort": "code"})
    assert codes(first) == [f"P-{i:02d}" for i in range(25)]
    assert first.context["client_count"] == 30
    html = first.content.decode()
    assert "30 clients" in html
    assert "Page 1 of 2" in html
    assert 'rel="next" href="?sort=code&amp;page=2"' in html
    second = client.get(URL, {"sort": "code", "page": 2})
    assert codes(second) == [f"P-{i:02d}" for i in range(25, 30)]


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({"page_size": 10, "page": 3}, [f"P-{i:02d}" for i in range(20, 30)]),
        ({"page_size": 1000}, [f"P-{i:02d}" for i in range(30)]),
        ({"page_size": "x"}, [f"P-{i:02d}" for i in range(25)]),
        ({"page": "x"}, [f"P-{i:02d}" for i in range(25)]),
        ({"page": 99}, [f"P-{i:02d}" for i in range(25, 30)]),
        ({"page": -1}, [f"P-{i:02d}" for i in range(25, 30)]),
    ],
)
def test_page_size_and_bad_page_numbers(client, thirty_clients, params, shown):
    response = client.get(URL, {"sort": "code", **params})
    assert response.status_code == 200
    assert codes(response) == shown


def test_every_page_takes_the_same_queries(client, thirty_clients):
    counts = []
    for page in (1, 2):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(URL, {"page": page}).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_a_short_list_has_no_page_links(client, therapist):
    client.force_login(therapist)
    ClientFactory(primary_therapist=therapist)
    assert 'class="pager"' not in client.get(URL).content.decode()


def test_the_supervisors_full_queue_is_paginated(client, clinic, supervisor):
    therapist = TherapistFactory(clinic=clinic)
    SupervisionFactory(supervisor=supervisor, therapist=therapist)
    for i in range(5):
        ClientFactory(primary_therapist=therapist, code=f"S-{i}")
    client.force_login(supervisor)
    url = reverse("supervision")
    pages = [
        [
            row.client.code
            for row in client.get(url, {"queue": "all", "page_size": 2, "page": n}).context["queue"]
        ]
        for n in (1, 2, 3)
    ]
    assert sorted(code for page in pages for code in page) == [f"S-{i}" for i in range(5)]
    assert [len(page) for page in pages] == [2, 2, 1]
    last = client.get(url, {"queue": "all", "page_size": 2, "page": "99"})
    assert [row.client.code for row in last.context["queue"]] == pages[2]
    assert "Page 3 of 3" in last.content.decode()
    # Every client on one page of 25 by default.
    assert len(client.get(url, {"queue": "all"}).context["queue"]) == 5


def test_the_audit_log_takes_a_page_size(client, clinic_admin):
    client.force_login(clinic_admin)
    therapist = TherapistFactory(clinic=clinic_admin.clinic)
    seen = ClientFactory(primary_therapist=therapist)
    for _ in range(4):
        client.get(reverse("client_detail", args=[seen.pk]))
    response = client.get(reverse("audit_log"), {"page_size": 2, "page": "zz"})
    assert response.status_code == 200
    page = response.context["page"]
    assert page.number == 1
    assert len(page.object_list) == 2
    assert "Older" in response.content.decode()
