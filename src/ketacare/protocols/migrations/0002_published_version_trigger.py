"""Second line of defence for published protocol versions: on PostgreSQL the database refuses a change
to the content of a version that is no longer a draft, and any DELETE of a version."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION protocols_version_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION USING MESSAGE = 'protocols_clinicprotocolversion: versions are never deleted';
    END IF;
    IF OLD.status <> 'draft' AND ROW(OLD.clinic_id, OLD.clinic_protocol_id, OLD.version, OLD.data, OLD.change_note,
            OLD.created_by_id, OLD.created_at)
        IS DISTINCT FROM ROW(NEW.clinic_id, NEW.clinic_protocol_id, NEW.version, NEW.data, NEW.change_note,
            NEW.created_by_id, NEW.created_at) THEN
        RAISE EXCEPTION USING MESSAGE = 'protocols_clinicprotocolversion: a ' || OLD.status || ' version is immutable';
    END IF;
    IF OLD.status <> NEW.status AND NOT (
        (OLD.status = 'draft' AND NEW.status = 'published') OR (OLD.status = 'published' AND NEW.status = 'retired')
    ) THEN
        RAISE EXCEPTION USING MESSAGE = 'protocols_clinicprotocolversion: ' || OLD.status || ' cannot become ' || NEW.status;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER protocols_version_immutable
    BEFORE UPDATE OR DELETE ON protocols_clinicprotocolversion
    FOR EACH ROW EXECUTE FUNCTION protocols_version_guard();
"""
DROP = """
DROP TRIGGER IF EXISTS protocols_version_immutable ON protocols_clinicprotocolversion;
DROP FUNCTION IF EXISTS protocols_version_guard();
"""


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("protocols", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
