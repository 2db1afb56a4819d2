"""Let the append-only trigger pass deletes made by 'careseal audit prune' (and only those)."""

from django.db import migrations

# "%%" because the statement goes through the driver's parameter formatting.
REPLACE = """
CREATE OR REPLACE FUNCTION careseal_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('careseal.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: %% on %% is not allowed', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""

ORIGINAL = """
CREATE OR REPLACE FUNCTION careseal_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: %% on %% is not allowed', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):  # noqa: ANN001, ARG001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REPLACE)


def backward(apps, schema_editor):  # noqa: ANN001, ARG001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ORIGINAL)


class Migration(migrations.Migration):
    dependencies = [("careseal_audit", "0003_auditanchor")]
    operations = [migrations.RunPython(forward, backward)]
