"""What the benchmark times: a page, who opens it, and how often.

To time another page (issue 9: the API, exports, the rating form), add a Scenario here;
the runner, the table and the JSON pick it up.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from alliance.bench.synthetic import BenchClinic
from alliance.models import User


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    user: Callable[[BenchClinic], User]
    url: Callable[[BenchClinic], str]
    repeat: int | None = None  # fewer runs for slow pages; None: the command's --repeat


SCENARIOS = [
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
]
