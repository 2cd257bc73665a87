"""Settings a multi-server deployment reads from the environment (docs/deployment.md): the
shared cache, the trusted proxies and the read replica. Each case imports the settings in a
fresh interpreter; `make serve`'s case with the environment its Makefile recipe gives."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "import json; from alliance import settings as s; print(json.dumps({"
    "'cache': s.CACHES['default'], 'databases': sorted(s.DATABASES),"
    "'proxies': s.ALLIANCE_TRUSTED_PROXIES,"
    "'replica': s.DATABASES.get('replica'), 'routers': getattr(s, 'DATABASE_ROUTERS', []),"
    "'middleware': s.MIDDLEWARE, 'eager': s.CELERY_TASK_ALWAYS_EAGER,"
    "'queue': getattr(s, 'CELERY_BROKER_TRANSPORT_OPTIONS', None)}, default=str))"
)
UNSET = (
    "CACHE_URL",
    "REDIS_URL",
    "DATABASE_REPLICA_URL",
    "ALLIANCE_TRUSTED_PROXIES",
    "DJANGO_ENV",
    "DJANGO_SECRET_KEY",
    "CELERY_BROKER_URL",
)


def settings_with(**env) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in UNSET} | env
    out = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_make_runs_worker_shares_a_queue_of_files_with_the_dev_server():
    found = settings_with(CELERY_BROKER_URL="filesystem://")
    assert found["eager"] is False
    queue = Path(found["queue"]["data_folder_in"])
    # One folder both ways: what the dev server sends, the worker reads.
    assert queue == Path(found["queue"]["data_folder_out"]) == ROOT / "var" / "celery" / "queue"
    assert queue.is_dir()
    assert settings_with()["eager"] is True


def test_by_default_one_process_cache_and_no_replica():
    found = settings_with()
    assert found["cache"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert found["databases"] == ["default"]
    assert found["routers"] == []
    assert "alliance.security.db_routers.ReplicaReadsMiddleware" not in found["middleware"]


@pytest.mark.parametrize(
    ("env", "backend", "location"),
    [
        (
            {"REDIS_URL": "redis://127.0.0.1:6379/1"},
            "django.core.cache.backends.redis.RedisCache",
            "redis://127.0.0.1:6379/1",
        ),
        (
            {"CACHE_URL": "dbcache://alliance_cache", "REDIS_URL": "redis://127.0.0.1:6379/1"},
            "alliance.security.cache.DatabaseCache",  # Django's, with an atomic incr()
            "alliance_cache",
        ),
    ],
)
def test_shared_cache_from_the_environment(env, backend, location):
    cache = settings_with(**env)["cache"]
    assert (cache["BACKEND"], cache["LOCATION"]) == (backend, location)


def test_production_mode_shares_the_database_cache_by_default():
    found = settings_with(DJANGO_ENV="production", DJANGO_SECRET_KEY="x" * 50)
    assert (found["cache"]["BACKEND"], found["cache"]["LOCATION"]) == (
        "alliance.security.cache.DatabaseCache",
        "alliance_cache",
    )
    assert found["proxies"] == 0
    # Redis when it is given.
    found = settings_with(
        DJANGO_ENV="production", DJANGO_SECRET_KEY="x" * 50, REDIS_URL="redis://127.0.0.1:6379/1"
    )
    assert found["cache"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"


def make_serve_settings(**env) -> dict:
    """The settings gunicorn gets from `make serve`: its recipe's line, run with the settings
    printed in place of gunicorn."""
    environment = {k: v for k, v in os.environ.items() if k not in UNSET} | env
    recipe = subprocess.run(
        ["make", "--no-print-directory", "-n", "serve"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert any(line.endswith("manage.py createcachetable") for line in recipe)
    (gunicorn,) = [line for line in recipe if "bin/gunicorn " in line]
    command = gunicorn[: gunicorn.index(".venv/bin/gunicorn")] + f'{sys.executable} -c "{SHOW}"'
    out = subprocess.run(
        ["sh", "-c", command], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_make_serve_trusts_no_proxy_and_its_workers_share_a_cache():
    found = make_serve_settings()
    # gunicorn is reached directly: a client's X-Forwarded-For must not choose its address.
    assert found["proxies"] == 0
    assert found["cache"]["BACKEND"] == "alliance.security.cache.DatabaseCache"
    # The operator who puts a proxy in front says so.
    assert make_serve_settings(ALLIANCE_TRUSTED_PROXIES="1")["proxies"] == 1


def test_replica_from_the_environment():
    found = settings_with(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/alliance",
        DATABASE_REPLICA_URL="postgres://reader@10.0.0.2:5432/alliance",
    )
    assert found["databases"] == ["default", "replica"]
    assert found["replica"]["HOST"] == "10.0.0.2"
    assert found["replica"]["TEST"] == {"MIRROR": "default"}
    assert found["routers"] == ["alliance.security.db_routers.ReplicaRouter"]
    middleware = found["middleware"]
    position = middleware.index("alliance.security.db_routers.ReplicaReadsMiddleware")
    # After the URL is resolved by everything before it, before the lockout middleware.
    assert middleware[position + 1] == "axes.middleware.AxesMiddleware"
