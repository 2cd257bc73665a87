from django.apps import AppConfig


class AllianceConfig(AppConfig):
    name = "alliance"
    verbose_name = "Alliance"

    def ready(self) -> None:
        # The audit log's and the session lifetime's login signal receivers; the shared-cache
        # deploy check.
        from alliance import audit, cache  # noqa: F401
        from alliance.security import middleware  # noqa: F401
