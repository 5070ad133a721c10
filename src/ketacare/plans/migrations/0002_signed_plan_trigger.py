"""Second line of defence for locked plans: on PostgreSQL the database refuses a change to the content of
a plan that is no longer a draft (signed, superseded, cancelled) and any DELETE of a plan. Only the
status may move on (signed -> superseded or cancelled) with its own date, reason and who."""

from django.db import migrations

CONTENT = (
    "clinic_id, patient_id, route, protocol_version_id, protocol_snapshot, plan_version, previous_id, "
    "weight_measurement_id, weight_kg, weighed_on, dose_raw_mg, dose_final_mg, dose_applied, dose_selected_mg, "
    "planned_sessions, first_session_on, interval_days, notes, created_by_id, created_at, signed_by_id, signed_at, "
    "signature_meaning"
)
OLD = ", ".join(f"OLD.{c.strip()}" for c in CONTENT.split(","))
NEW = ", ".join(f"NEW.{c.strip()}" for c in CONTENT.split(","))

CREATE = f"""
CREATE OR REPLACE FUNCTION plans_treatmentplan_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION USING MESSAGE = 'plans_treatmentplan: plans are never deleted';
    END IF;
    IF OLD.status <> 'draft' AND ROW({OLD}) IS DISTINCT FROM ROW({NEW}) THEN
        RAISE EXCEPTION USING MESSAGE = 'plans_treatmentplan: a ' || OLD.status || ' plan is locked';
    END IF;
    IF OLD.status <> NEW.status AND NOT (
        (OLD.status = 'draft' AND NEW.status IN ('signed', 'cancelled'))
        OR (OLD.status = 'signed' AND NEW.status IN ('superseded', 'cancelled'))
    ) THEN
        RAISE EXCEPTION USING MESSAGE = 'plans_treatmentplan: ' || OLD.status || ' cannot become ' || NEW.status;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER plans_treatmentplan_locked
    BEFORE UPDATE OR DELETE ON plans_treatmentplan
    FOR EACH ROW EXECUTE FUNCTION plans_treatmentplan_guard();
"""
DROP = """
DROP TRIGGER IF EXISTS plans_treatmentplan_locked ON plans_treatmentplan;
DROP FUNCTION IF EXISTS plans_treatmentplan_guard();
"""


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("plans", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
