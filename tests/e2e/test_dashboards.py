"""Dashboards in Chromium: the supervisor's risk queue on the demo clinic, the client chart
drawn by the locally served plotly.js, and the packet on paper."""

import io

import pytest
from django.core.management import call_command

from tests.dashboards.helpers import flag, weekly_course
from tests.e2e.conftest import SCREENSHOTS, log_in
from tests.factories import ClientFactory, SupervisionFactory

PASSWORD = "correct horse battery"
A4_MARGINS = dict.fromkeys(("top", "right", "bottom", "left"), "15mm")


def watch_console(page) -> list[str]:
    """Errors the page meets: a CSP refusal, a script error, a missing file (not the
    browser's own favicon request)."""
    errors: list[str] = []

    def console(message):
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def response(answer):
        if answer.status >= 400 and not answer.url.endswith("/favicon.ico"):
            errors.append(f"{answer.status} {answer.url}")

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", response)
    return errors


def drawn_chart(page, selector: str = "#chart-client"):
    """Wait for plotly to draw the figure as SVG and return the plot's element."""
    plot = page.locator(selector)
    plot.locator("svg.main-svg").first.wait_for()
    return plot


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("viewport", [(1366, 768), (820, 1180)], ids=["laptop", "tablet"])
def test_the_supervisor_sees_unrepaired_ruptures_first_and_their_chart(
    browser, live_server, instruments, screenshot, viewport
):
    call_command("seed_demo", stdout=io.StringIO())
    width, height = viewport
    context = browser.new_context(
        viewport={"width": width, "height": height}, base_url=live_server.url
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = watch_console(page)

    log_in(page, "demo-supervisor", "demo")
    page.get_by_role("heading", name="Clients to look at, most at risk first").wait_for()
    rows = page.locator("table.risk-queue tbody tr")
    top_two = {rows.nth(i).get_by_role("rowheader").inner_text().strip() for i in range(2)}
    assert top_two == {"RDC-002", "RDC-016"}  # the demo's unrepaired ruptures
    first = rows.first.inner_text()
    assert "Unrepaired rupture" in first and "Unrepaired drop at session 8" in first
    assert "Rupture, repair pending" in rows.nth(2).inner_text()  # RDC-011
    drawn_chart(page, "#chart-therapists")  # the weekly means, one line per therapist
    screenshot(page, "supervision")

    rows.first.get_by_role("link", name="RDC-0", exact=False).first.click()
    page.get_by_role("heading", name="Alliance chart").wait_for()
    plot = drawn_chart(page)
    assert plot.locator(".scatterlayer .trace").count() >= 4
    legend = plot.locator(".legend").text_content()
    assert "Client-rated total" in legend and "Unrepaired" in legend
    assert (
        "Unrepaired drop in the client-rated total at session 8."
        in page.locator(".chart-summary").first.inner_text()
    )
    screenshot(page, "client-chart")
    assert errors == []
    context.close()


@pytest.mark.django_db(transaction=True)
def test_the_client_chart_shows_gaps_flags_and_repairs(page, instruments, screenshot):
    link = SupervisionFactory(therapist__username="e2e-therapist")
    therapist = link.therapist
    client = ClientFactory(primary_therapist=therapist, code="E2E-CHART")
    sessions = weekly_course(
        client,
        instruments,
        [4, 4, 4, None, 4, 2, 4, 4, 2, 2, 2],
        [4, 4, 4, 4, 4, 3, 4, 4, 4, 4, 4],
    )
    flag(sessions[6], repair_status="repaired", explanation="Client-rated total fell 4 to 2.")
    flag(sessions[9], repair_status="unrepaired", explanation="Client-rated total fell 4 to 2.")
    flag(sessions[9], "client_reported_tension", scale="tension", explanation="Tension said.")
    errors = watch_console(page)

    log_in(page, "e2e-therapist", PASSWORD)
    page.goto(client.get_absolute_url())
    plot = drawn_chart(page)
    # The client-rated total is drawn in pieces: no line across the missing form at 4.
    # (traces: the baseline band, then the client-rated total)
    client_line = plot.locator(".scatterlayer .trace").nth(1).locator("path.js-line")
    assert client_line.count() == 2
    texts = plot.locator(".scatterlayer .textpoint").all_text_contents()
    assert "Repaired" in texts and "Unrepaired" in texts
    legend = plot.locator(".legend").text_content()
    for name in ("Baseline", "Repaired", "Unrepaired", "Other signal", "Client-rated bond"):
        assert name in legend
    # Bond is hidden until clicked in the legend, then drawn.
    traces_before = plot.locator(".scatterlayer .trace").count()
    plot.locator(".legend .traces").filter(has_text="Client-rated bond").locator(
        ".legendtoggle"
    ).click()
    # plotly waits out its double-click delay before acting on a single click.
    for _ in range(30):
        if plot.locator(".scatterlayer .trace").count() > traces_before:
            break
        page.wait_for_timeout(100)
    assert plot.locator(".scatterlayer .trace").count() > traces_before
    screenshot(page, "chart")

    # The same numbers without the picture: the summary and the table.
    page.get_by_text("The chart's numbers as a table").first.click()
    table = page.locator(".chart-data table")
    assert table.locator("tbody tr").count() == 11
    assert "Unrepaired" in table.locator("tbody tr").nth(8).inner_text()  # session 9
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_the_packet_prints_one_client_per_page(page, instruments, screenshot):
    link = SupervisionFactory(supervisor__username="e2e-supervisor")
    for code, totals in (("P-1", [4, 4, 2]), ("P-2", [4, 4, 4])):
        client = ClientFactory(primary_therapist=link.therapist, code=code)
        weekly_course(client, instruments, totals, [4, 4, 4])
    log_in(page, "e2e-supervisor", PASSWORD)
    page.goto(f"/supervision/therapists/{link.therapist.pk}/packet/")
    drawn_chart(page, ".packet-client .chart-plot")
    page.emulate_media(media="print")
    assert page.locator(".site-header").is_hidden()
    assert page.locator(".packet-client").count() == 2
    breaks = page.locator(".packet-client").first.evaluate("e => getComputedStyle(e).breakBefore")
    assert breaks == "page"
    width = page.locator(".packet-client .main-svg").first.evaluate(
        "e => e.getBoundingClientRect().width"
    )
    assert width == pytest.approx(680, abs=2)  # fits A4 and Letter
    screenshot(page, "packet-print")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.pdf(path=str(SCREENSHOTS / "packet-a4.pdf"), format="A4", margin=A4_MARGINS)
