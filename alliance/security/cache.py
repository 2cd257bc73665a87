"""The shared cache: Django's database cache with an atomic incr(), and the check that the
default cache is shared by every process (docs/deployment.md, "Sessions and the cache").

Rate limits and login-failure counts are counters in the default cache (cache.add, then
cache.incr). They hold across gunicorn workers and app servers only if every process counts
in one store, and only if incr() is atomic there: Redis' INCR is; Django's database cache
reads, adds and writes back, so two workers counting at once lose a count. DatabaseCache
below locks the row first.
"""

import pickle
from base64 import b64encode

from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.core.checks import Tags, Warning, register
from django.db import connections, router, transaction
from django.utils.module_loading import import_string

# Backends whose store every process shares and whose incr() is atomic.
SHARED_BACKENDS = (
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.BaseMemcachedCache",
    "alliance.security.cache.DatabaseCache",
)


class DatabaseCache(DjangoDatabaseCache):
    """Django's database cache (`manage.py createcachetable`) with an atomic incr()."""

    def incr(self, key, delta=1, version=None):
        cache_key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        table, key_column = quote(self._table), quote("cache_key")
        with transaction.atomic(using=db), connection.cursor() as cursor:
            # A write first: it holds the row (PostgreSQL) or the database (SQLite) until the
            # commit, so a second worker's incr() waits and then reads this one's result.
            cursor.execute(
                f"UPDATE {table} SET {quote('expires')} = {quote('expires')} "
                f"WHERE {key_column} = %s",
                [cache_key],
            )
            value = self.get(key, version=version)
            if value is None:
                raise ValueError(f"Key '{key}' not found")
            value += delta
            pickled = b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(
                f"UPDATE {table} SET {quote('value')} = %s WHERE {key_column} = %s",
                [pickled, cache_key],
            )
        return value


def cache_is_shared(alias: str = "default") -> bool:
    """Whether every process counts in the same store, atomically (see SHARED_BACKENDS)."""
    backend = type(caches[alias])
    return any(issubclass(backend, import_string(shared)) for shared in SHARED_BACKENDS)


@register(Tags.caches, deploy=True)
def check_shared_cache(app_configs, **kwargs) -> list:
    if cache_is_shared():
        return []
    return [
        Warning(
            "The default cache is kept per process: with more than one gunicorn worker or app "
            "server, rate limits and login-failure limits count per process.",
            hint="Set REDIS_URL or CACHE_URL (redis://, or dbcache://alliance_cache after "
            "`manage.py createcachetable`); see docs/deployment.md.",
            id="alliance.W001",
        )
    ]
