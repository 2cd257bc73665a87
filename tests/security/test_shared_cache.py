"""The shared cache (alliance/security/cache.py): two gunicorn workers, played by two cache backend
instances on one database cache table, count the same rate limits; incr() is atomic; a
per-process cache is refused where it would split the counts."""

import datetime as dt
import threading
from types import SimpleNamespace

import pytest
import time_machine
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory
from rest_framework.test import APIClient

from alliance.security.cache import DatabaseCache, cache_is_shared, check_shared_cache
from sessions import ratelimit

TABLE = "alliance_test_cache"


@pytest.fixture
def workers(db):
    """Two workers' caches: separate backend instances (nothing in memory shared) on the
    one database table, as `make serve`'s workers in production mode."""
    call_command("createcachetable", TABLE)
    first, second = DatabaseCache(TABLE, {}), DatabaseCache(TABLE, {})
    first.clear()
    return first, second


@pytest.fixture
def alternating(workers, monkeypatch):
    """The rate limiters count in worker 1's cache, then worker 2's, then 1's..., as a load
    balancer hands requests round."""
    turn = {"n": 0}

    class RoundRobin:
        def __getattr__(self, name):
            turn["n"] += name == "add"  # each count is add() then incr(): one request
            return getattr(workers[turn["n"] % 2], name)

    monkeypatch.setattr(ratelimit, "cache", RoundRobin())
    return workers


def test_two_workers_add_to_one_count(workers):
    first, second = workers
    assert first.add("hits", 0, timeout=60)
    assert not second.add("hits", 0, timeout=60)  # the window has started: no reset
    assert first.incr("hits") == 1
    assert second.incr("hits") == 2
    assert first.incr("hits", 3) == 5
    assert second.get("hits") == 5
    with pytest.raises(ValueError, match="not found"):
        second.incr("never-added")


# The limits count in fixed windows: the clock is held inside one, so that no count restarts
# on a window's edge midway through a test.
INSIDE_ONE_WINDOW = dt.datetime(2026, 12, 7, 12, 0, 5, tzinfo=dt.UTC)


@time_machine.travel(INSIDE_ONE_WINDOW, tick=False)
def test_the_form_links_limit_holds_across_workers(alternating, settings):
    settings.ALLIANCE_FORM_RATE_LIMIT = 30
    request = RequestFactory().get("/f/x/", REMOTE_ADDR="198.51.100.7")
    refused = [ratelimit.form_rate_limit_exceeded(request, link="x") for _ in range(31)]
    assert refused == [False] * 30 + [True]
    assert alternating[0].get(ratelimit._window_key("client_form:link:x", 300)) == 31
    assert alternating[1].get(ratelimit._window_key("client_form:198.51.100.7", 300)) == 31


@time_machine.travel(INSIDE_ONE_WINDOW, tick=False)
def test_the_token_endpoints_limit_holds_across_workers(alternating):
    api = APIClient()
    # A different username each time: no lockout, only the throttle (20 a minute).
    answers = [
        api.post("/api/v1/auth/token/", {"username": f"user{n}", "password": "guess"})
        for n in range(21)
    ]
    assert [answer.status_code for answer in answers] == [400] * 20 + [429]
    assert answers[20].json()["error"]["code"] == "throttled"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="worker threads need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_incr_is_atomic_under_concurrent_workers():
    call_command("createcachetable", TABLE)
    DatabaseCache(TABLE, {}).add("hits", 0, timeout=60)
    errors = []

    def worker():
        cache = DatabaseCache(TABLE, {})  # its own instance and database connection
        try:
            for _ in range(25):
                cache.incr("hits")
        except Exception as exc:  # pragma: no cover (shown in the assertion)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert DatabaseCache(TABLE, {}).get("hits") == 100
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {TABLE}")


def test_a_per_process_cache_is_flagged(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert not cache_is_shared()
    assert [w.id for w in check_shared_cache(None)] == ["alliance.W001"]
    settings.CACHES = {
        "default": {"BACKEND": "alliance.security.cache.DatabaseCache", "LOCATION": TABLE}
    }
    assert cache_is_shared()
    assert check_shared_cache(None) == []
    # Django's own database cache reads and writes back in incr(): not shared-safe.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": TABLE}
    }
    assert not cache_is_shared()
    assert caches["default"].__class__.__name__ == "DatabaseCache"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def test_gunicorn_refuses_several_workers_on_a_per_process_cache(settings, monkeypatch):
    from tests.alliance.test_gunicorn_conf import load_conf

    conf = load_conf(monkeypatch)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with pytest.raises(RuntimeError, match="per-process cache"):
        conf.on_starting(SimpleNamespace(num_workers=5))
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    conf.on_starting(SimpleNamespace(num_workers=1))
    settings.CACHES = {
        "default": {"BACKEND": "alliance.security.cache.DatabaseCache", "LOCATION": TABLE}
    }
    conf.on_starting(SimpleNamespace(num_workers=5))
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
