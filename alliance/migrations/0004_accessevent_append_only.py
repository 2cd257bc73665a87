# The audit log is append-only in the database too: on PostgreSQL a trigger refuses every
# UPDATE and DELETE of alliance_accessevent, whoever sends it (the ORM refuses them as well,
# see AccessEvent). SQLite, the development database, relies on the ORM alone.

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION alliance_accessevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'alliance_accessevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER alliance_accessevent_append_only
    BEFORE UPDATE OR DELETE ON alliance_accessevent
    FOR EACH ROW EXECUTE FUNCTION alliance_accessevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS alliance_accessevent_append_only ON alliance_accessevent;
DROP FUNCTION IF EXISTS alliance_accessevent_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # no placeholders: "%" is PL/pgSQL

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("alliance", "0003_audit_history_two_factor_retention"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP), elidable=False),
    ]
