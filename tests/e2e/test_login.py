import pytest

from tests.e2e.conftest import log_in
from tests.factories import ClientFactory, TherapistFactory


@pytest.mark.django_db(transaction=True)
def test_therapist_logs_in_and_sees_the_caseload(page, screenshot):
    therapist = TherapistFactory(username="e2e-therapist")
    ClientFactory(primary_therapist=therapist, code="E2E-001")

    log_in(page, "e2e-therapist", "correct horse battery")

    page.get_by_role("heading", name="Caseload").wait_for()
    assert page.get_by_role("link", name="E2E-001").is_visible()
    screenshot(page, "caseload")
