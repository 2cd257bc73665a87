"""Settings a multi-server deployment reads from the environment (docs/deployment.md): the
shared cache and the read replica. Each case imports the settings in a fresh interpreter."""

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
    "'replica': s.DATABASES.get('replica'), 'routers': getattr(s, 'DATABASE_ROUTERS', []),"
    "'middleware': s.MIDDLEWARE}, default=str))"
)
UNSET = ("CACHE_URL", "REDIS_URL", "DATABASE_REPLICA_URL")


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


def test_by_default_one_process_cache_and_no_replica():
    found = settings_with()
    assert found["cache"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert found["databases"] == ["default"]
    assert found["routers"] == []
    assert "alliance.db_routers.ReplicaReadsMiddleware" not in found["middleware"]


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
            "django.core.cache.backends.db.DatabaseCache",
            "alliance_cache",
        ),
    ],
)
def test_shared_cache_from_the_environment(env, backend, location):
    cache = settings_with(**env)["cache"]
    assert (cache["BACKEND"], cache["LOCATION"]) == (backend, location)


def test_replica_from_the_environment():
    found = settings_with(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/alliance",
        DATABASE_REPLICA_URL="postgres://reader@10.0.0.2:5432/alliance",
    )
    assert found["databases"] == ["default", "replica"]
    assert found["replica"]["HOST"] == "10.0.0.2"
    assert found["replica"]["TEST"] == {"MIRROR": "default"}
    assert found["routers"] == ["alliance.db_routers.ReplicaRouter"]
    middleware = found["middleware"]
    position = middleware.index("alliance.db_routers.ReplicaReadsMiddleware")
    # After the URL is resolved by everything before it, before the lockout middleware.
    assert middleware[position + 1] == "axes.middleware.AxesMiddleware"
