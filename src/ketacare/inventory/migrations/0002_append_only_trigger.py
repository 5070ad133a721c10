"""Second line of defence for the append-only Schedule III ledger: on PostgreSQL the database itself
refuses UPDATE and DELETE of ledger entries (the application never issues either; a correction is
a new entry). TRUNCATE, used only by test tear-down and by an operator, is not affected."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION inventory_ledgerentry_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'inventory_ledgerentry is append-only: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER inventory_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON inventory_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION inventory_ledgerentry_refuse_change();
"""
DROP = """
DROP TRIGGER IF EXISTS inventory_ledgerentry_append_only ON inventory_ledgerentry;
DROP FUNCTION IF EXISTS inventory_ledgerentry_refuse_change();
"""


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
