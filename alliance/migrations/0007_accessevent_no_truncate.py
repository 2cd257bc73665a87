# TRUNCATE fires no row trigger, so 0004's trigger let `TRUNCATE alliance_accessevent` empty
# the audit log: a statement trigger refuses it too, whoever sends it. The app's role cannot
# send it anyway (docs/app-role.sql); this stops the owner's accidents, e.g. `manage.py flush`.
# SQLite, the development database, relies on the ORM alone.

from django.db import migrations

TABLE = "alliance_accessevent"
TRIGGER = "alliance_accessevent_no_truncate"

CREATE = f"""
CREATE TRIGGER {TRIGGER}
    BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION alliance_accessevent_append_only();
"""

DROP = f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE};"


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("alliance", "0006_api_token_second_factor"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP), elidable=False),
    ]
