from django.apps import AppConfig


class AllianceConfig(AppConfig):
    name = "alliance"
    verbose_name = "Alliance"

    def ready(self) -> None:
        # The login signal receivers (the audit log, the session lifetime, failures per
        # address) and the shared-cache deploy check.
        from alliance.security import audit, cache, lockout, middleware  # noqa: F401
