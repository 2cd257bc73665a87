"""What the benchmark times: a page, who opens it, and how often.

To time another page, add a Scenario here; the runner, the table and the JSON pick it up.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from alliance.devtools.bench import forms
from alliance.devtools.bench.synthetic import BenchClinic
from alliance.models import User

# The floor every page is compared with (alliance/devtools/bench/urls.py).
TRIVIAL = "trivial"


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    user: Callable[[BenchClinic], User | None]  # None: not signed in (the client's form)
    url: Callable[[BenchClinic], str]
    repeat: int | None = None  # fewer runs for slow pages; None: the command's --repeat
    warm_up: int | None = None  # requests before timing; None: the runner's WARM_UP
    # A form post: called before each request (not timed) for its URL and data.
    post: Callable[[BenchClinic], tuple[str, dict]] | None = None
    expect: int = 200


SCENARIOS = [
    Scenario(
        TRIVIAL,
        "Trivial page (signed in; the floor)",
        lambda bench: bench.therapist,
        lambda bench: reverse("bench_trivial"),
    ),
    Scenario(
        "client_form_get",
        "Client form GET (one-time link)",
        lambda bench: None,
        forms.form_url,
    ),
    Scenario(
        "client_form_post",
        "Client form POST (score, store, flags)",
        lambda bench: None,
        lambda bench: "/f/<fresh token>/",
        post=forms.form_post,
        expect=302,
    ),
    Scenario(
        "supervisor_dashboard",
        "Supervisor dashboard (10 therapists)",
        lambda bench: bench.supervisor,
        lambda bench: reverse("supervision"),
    ),
    Scenario(
        "supervisor_dashboard_all",
        "Supervisor dashboard, every client",
        lambda bench: bench.supervisor,
        lambda bench: reverse("supervision") + "?queue=all",
    ),
    Scenario(
        "therapist_caseload",
        "Therapist caseload",
        lambda bench: bench.therapist,
        lambda bench: reverse("caseload"),
    ),
    Scenario(
        "client_chart",
        "Client page with chart (most sessions)",
        lambda bench: bench.therapist,
        lambda bench: reverse("client_detail", args=[bench.busiest_client().pk]),
    ),
    Scenario(
        "supervision_packet",
        "Supervision packet (one therapist)",
        lambda bench: bench.supervisor,
        lambda bench: reverse("therapist_packet", args=[bench.therapist.pk]),
        repeat=5,
    ),
    Scenario(
        "clinic_overview",
        "Clinic overview",
        lambda bench: bench.admin,
        lambda bench: reverse("clinic_overview"),
    ),
    Scenario(
        "api_clients",
        "API client list (50 a page)",
        lambda bench: bench.therapist,
        lambda bench: reverse("api-client-list") + "?page_size=50",
    ),
    Scenario(
        "clinic_export",
        "Clinic ratings export (CSV, every rating)",
        lambda bench: bench.admin,
        lambda bench: reverse("api-export-ratings-csv"),
        # Streamed, read to the end; at L about a million ratings a run, so one warm-up.
        repeat=3,
        warm_up=1,
    ),
]
