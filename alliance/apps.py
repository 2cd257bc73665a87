from django.apps import AppConfig


class AllianceConfig(AppConfig):
    name = "alliance"
    verbose_name = "Alliance"

    def ready(self) -> None:
        # The login signal receivers (the audit log, the session lifetime, failures per
        # address) and the shared-cache deploy check.
        from alliance import audit, cache  # noqa: F401
        from alliance.security import lockout, middleware  # noqa: F401
