"""On PostgreSQL, reject UPDATE and DELETE on the audit table with a row trigger.

TRUNCATE is left to table-owner rights: Django's test runner empties tables
with it, and a truncated chain no longer matches its signed checkpoints.
"""

from django.db import migrations

# "%%" because the statement goes through the driver's parameter formatting.
CREATE = """
CREATE OR REPLACE FUNCTION careseal_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: %% on %% is not allowed', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER careseal_audit_no_change BEFORE UPDATE OR DELETE ON careseal_audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION careseal_audit_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS careseal_audit_no_change ON careseal_audit_auditevent;
DROP FUNCTION IF EXISTS careseal_audit_append_only();
"""


def create_trigger(apps, schema_editor):  # noqa: ANN001, ARG001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_trigger(apps, schema_editor):  # noqa: ANN001, ARG001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("careseal_audit", "0001_initial")]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
