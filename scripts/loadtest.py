"""A bounded load test of a running Alliance server on loopback (`make loadtest`).

Plays a clinic's mix against `make serve`: clients sending their session-end form through
fresh one-time links (GET the form, POST the answers), therapists reading their caseload and
client pages and the API's client list, supervisors on their dashboard. A fixed number of
requests, a fixed number of concurrent users and a time limit; prints requests per second,
p50/p95/p99 and errors per endpoint (and writes them as JSON with --json).

The plan (tokens, clinicians, their clients, the form's items) comes from
`manage.py loadtest_prepare`. The script stands in for the TLS-terminating load balancer as
far as HTTPS goes (X-Forwarded-Proto: https), but it forges no X-Forwarded-For: each
simulated person connects from a loopback address of their own (127.x.y.z, all of
127.0.0.0/8 is loopback on Linux), so the server sees real, distinct addresses and its
per-address limits apply unchanged. Against a server on ::1 or "localhost" everyone shares
one address: start that server with ALLIANCE_FORM_ADDRESS_RATE_LIMIT above the run's form
requests.

    python scripts/loadtest.py --plan var/loadtest/plan.json --requests 2000 --concurrency 8
"""

import argparse
import asyncio
import http.cookies
import json
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
SUBMISSION_ID = re.compile(r'name="submission_id" value="([0-9a-f-]{36})"')
# Share of actions of each kind; a client form is two requests (GET the form, POST it).
MIX = {
    "client_form": 25,
    "caseload": 20,
    "client_page": 25,
    "supervision": 15,
    "api_clients": 15,
}


class LoadTestError(Exception):
    pass


class Browser:
    """One person's HTTP client. Keeps its cookies by hand: the server marks them Secure
    (production settings) and httpx would not send those over plain HTTP, but this script
    plays the load balancer that ends TLS."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = await self.http.request(method, path, headers=headers, **kwargs)
        for header in response.headers.get_list("set-cookie"):
            morsel = http.cookies.SimpleCookie(header)
            for name, value in morsel.items():
                if value["max-age"] == "0" or not value.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value.value
        return response

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> "Browser":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


@dataclass
class Stats:
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def add(self, endpoint: str, ms: float, error: str | None = None) -> None:
        self.times.setdefault(endpoint, []).append(ms)
        if error:
            self.errors.setdefault(endpoint, []).append(error)

    def report(self, seconds: float) -> dict:
        rows = {}
        for endpoint, times in self.times.items():
            ordered = sorted(times)
            rows[endpoint] = {
                "requests": len(times),
                "errors": len(self.errors.get(endpoint, [])),
                "rps": round(len(times) / seconds, 1),
                "p50_ms": round(_percentile(ordered, 50), 1),
                "p95_ms": round(_percentile(ordered, 95), 1),
                "p99_ms": round(_percentile(ordered, 99), 1),
                "mean_ms": round(statistics.fmean(ordered), 1),
                "first_errors": self.errors.get(endpoint, [])[:3],
            }
        total = sum(len(t) for t in self.times.values())
        everything = sorted(ms for t in self.times.values() for ms in t)
        return {
            "seconds": round(seconds, 1),
            "requests": total,
            "errors": sum(len(e) for e in self.errors.values()),
            "rps": round(total / seconds, 1) if seconds else 0.0,
            "p50_ms": round(_percentile(everything, 50), 1) if everything else None,
            "p95_ms": round(_percentile(everything, 95), 1) if everything else None,
            "p99_ms": round(_percentile(everything, 99), 1) if everything else None,
            "endpoints": rows,
        }


def _percentile(ordered: list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Site:
    """The server, seen through the (simulated) load balancer."""

    def __init__(self, base_url: str, stats: Stats, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(base_url).netloc
        self.stats = stats
        self.timeout = timeout

    def client(self, address: str) -> Browser:
        """A person's browser, connecting from ``address`` (an IPv4 loopback address) when
        the server is on IPv4 loopback."""
        local = address if urlsplit(self.base_url).hostname.startswith("127.") else None
        client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"X-Forwarded-Proto": "https", "User-Agent": "alliance-loadtest"},
            timeout=self.timeout,
            follow_redirects=False,
            transport=httpx.AsyncHTTPTransport(local_address=local),
        )
        return Browser(client)

    def referer(self, path: str) -> str:
        # The CSRF check of a secure request wants a same-origin Referer (or Origin).
        return f"https://{self.host}{path}"

    async def request(
        self,
        browser: Browser,
        endpoint: str,
        method: str,
        path: str,
        *,
        expect: int,
        data: dict | None = None,
    ) -> httpx.Response | None:
        headers = {"Referer": self.referer(path)} if method == "POST" else {}
        started = time.perf_counter()
        try:
            response = await browser.request(method, path, data=data, headers=headers)
        except httpx.HTTPError as exc:
            self.stats.add(endpoint, (time.perf_counter() - started) * 1000, repr(exc))
            return None
        ms = (time.perf_counter() - started) * 1000
        error = None
        if response.status_code != expect:
            error = f"{method} {_redact(path)}: {response.status_code} (expected {expect})"
        self.stats.add(endpoint, ms, error)
        return response if error is None else None


def _redact(path: str) -> str:
    return re.sub(r"/f/[^/]+", "/f/[token]", path)


async def login(site: Site, username: str, password: str, address: str) -> Browser:
    browser = site.client(address)
    page = await site.request(browser, "login GET", "GET", "/login/", expect=200)
    match = page is not None and CSRF_INPUT.search(page.text)
    if not match:
        raise LoadTestError(f"{username}: no login form (is the server up?)")
    done = await site.request(
        browser,
        "login POST",
        "POST",
        "/login/",
        expect=302,
        data={"username": username, "password": password, "csrfmiddlewaretoken": match[1]},
    )
    if done is None:
        raise LoadTestError(f"{username}: login refused (wrong password in the plan?)")
    return browser


async def client_form(site: Site, token: str, items: dict[str, list[str]], n: int, rng) -> None:
    """A client opens their link and sends the form (from an address of their own)."""
    async with site.client(f"127.1.{n // 250 % 250}.{n % 250 + 1}") as browser:
        path = f"/f/{token}/"
        page = await site.request(browser, "client form GET", "GET", path, expect=200)
        match = page is not None and SUBMISSION_ID.search(page.text)
        if not match:
            return
        answers = {key: rng.choice(values[len(values) // 2 :]) for key, values in items.items()}
        await site.request(
            browser,
            "client form POST",
            "POST",
            path,
            expect=302,
            data={**answers, "submission_id": match[1], "form_language": "en"},
        )


def plan_actions(plan: dict, requests: int, rng: random.Random) -> list[tuple]:
    """The run's actions in order, drawn from MIX until they add up to ``requests``."""
    tokens = list(plan["form_tokens"])
    kinds = list(MIX)
    weights = [MIX[k] for k in kinds]
    if not plan["supervisors"]:
        weights[kinds.index("supervision")] = 0
    actions, count = [], 0
    while count < requests:
        kind = rng.choices(kinds, weights)[0]
        if kind == "client_form":
            if not tokens:
                continue
            actions.append((kind, tokens.pop()))
            count += 2
            continue
        if kind == "supervision":
            actions.append((kind, rng.choice(plan["supervisors"])))
        else:
            therapist = rng.choice(plan["therapists"])
            actions.append((kind, therapist["username"], rng.choice(therapist["clients"])))
        count += 1
    return actions


async def run(args: argparse.Namespace) -> dict:
    plan = json.loads(Path(args.plan).read_text())
    rng = random.Random(args.seed)
    stats = Stats()
    site = Site(args.base_url, stats, timeout=args.timeout)
    actions = plan_actions(plan, args.requests, rng)
    forms = sum(1 for a in actions if a[0] == "client_form")
    print(
        f"{len(actions)} actions ({forms} client forms) with {args.concurrency} concurrent "
        f"users against {args.base_url}, at most {args.time_limit:.0f} s",
        flush=True,
    )

    names = {a[1] for a in actions if a[0] != "client_form"}
    sessions: dict[str, Browser] = {}
    for n, username in enumerate(sorted(names)):
        sessions[username] = await login(site, username, plan["password"], f"127.0.1.{n + 1}")
    # Logins are set-up, not part of the mix.
    stats.times.clear()
    stats.errors.clear()

    queue: asyncio.Queue = asyncio.Queue()
    for n, action in enumerate(actions):
        queue.put_nowait((n, action))
    deadline = time.monotonic() + args.time_limit

    async def user() -> None:
        while not queue.empty() and time.monotonic() < deadline:
            n, action = queue.get_nowait()
            kind = action[0]
            if kind == "client_form":
                await client_form(site, action[1], plan["items"], n, rng)
                continue
            browser = sessions[action[1]]
            if kind == "caseload":
                await site.request(browser, "therapist caseload", "GET", "/caseload/", expect=200)
            elif kind == "client_page":
                path = f"/clients/{action[2]}/"
                await site.request(browser, "client page (chart)", "GET", path, expect=200)
            elif kind == "api_clients":
                path = "/api/v1/clients/?page_size=50"
                await site.request(browser, "API client list", "GET", path, expect=200)
            elif kind == "supervision":
                path = "/supervision/"
                await site.request(browser, "supervisor dashboard", "GET", path, expect=200)

    started = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(args.concurrency)))
    seconds = time.perf_counter() - started
    for browser in sessions.values():
        await browser.aclose()
    report = stats.report(seconds)
    report["unfinished_actions"] = queue.qsize()
    report["concurrency"] = args.concurrency
    report["base_url"] = args.base_url
    return report


def table(report: dict) -> str:
    head = f"{'endpoint':24} {'requests':>8} {'errors':>6} {'rps':>7} {'p50 ms':>8} "
    head += f"{'p95 ms':>8} {'p99 ms':>8}"
    lines = [head, "-" * len(head)]
    rows = sorted(report["endpoints"].items())
    rows.append(("all", report))
    for name, row in rows:
        lines.append(
            f"{name:24} {row['requests']:>8} {row['errors']:>6} {row['rps']:>7.1f} "
            f"{row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} {row['p99_ms']:>8.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", default="var/loadtest/plan.json")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--requests", type=int, default=2000, help="Requests in the mix.")
    parser.add_argument("--concurrency", type=int, default=8, help="Simultaneous users.")
    parser.add_argument("--time-limit", type=float, default=180, help="Seconds, at most.")
    parser.add_argument("--timeout", type=float, default=30, help="Seconds per request.")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--json", dest="json_path", help="Also write the figures here.")
    args = parser.parse_args(argv)
    if urlsplit(args.base_url).hostname not in LOOPBACK:
        parser.error("the load test only targets a server on loopback (127.0.0.1)")
    try:
        report = asyncio.run(run(args))
    except LoadTestError as exc:
        print(f"Load test stopped: {exc}", file=sys.stderr)
        return 2
    print(table(report))
    if report["unfinished_actions"]:
        print(f"Time limit reached: {report['unfinished_actions']} actions not run.")
    for name, row in sorted(report["endpoints"].items()):
        for error in row["first_errors"]:
            print(f"  {name}: {error}")
    if args.json_path:
        path = Path(args.json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"Written to {path}")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
