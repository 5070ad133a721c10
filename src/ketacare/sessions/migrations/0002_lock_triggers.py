"""Second line of defence for signed sessions (issue #7): on PostgreSQL the database itself refuses

- UPDATE or DELETE of charted rows (events, checks, vitals, assessments, side effects, baseline
  decisions, signatures, addenda): they are append-only; a correction is a new row or an addendum;
- UPDATE of a dose once its stop time is set, and DELETE of any dose;
- any UPDATE or DELETE of a treatment session that is signed or cancelled;
- INSERT of a charted row (other than an event or an addendum) into a signed or cancelled session.

The application never issues any of these (model guards in models.py raise first). TRUNCATE, used
only by test tear-down and by an operator, is not affected.
"""

from django.db import migrations

APPEND_ONLY = [
    "treatment_sessions_sessionevent",
    "treatment_sessions_predosecheck",
    "treatment_sessions_vitalsigns",
    "treatment_sessions_assessment",
    "treatment_sessions_sideeffect",
    "treatment_sessions_baselinedecision",
    "treatment_sessions_sessionsignature",
    "treatment_sessions_addendum",
]
CHARTED = [
    "treatment_sessions_predosecheck",
    "treatment_sessions_vitalsigns",
    "treatment_sessions_assessment",
    "treatment_sessions_sideeffect",
    "treatment_sessions_baselinedecision",
    "treatment_sessions_sessionsignature",
    "treatment_sessions_doseadministration",
]

FUNCTIONS = """
CREATE OR REPLACE FUNCTION kc_session_row_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION kc_session_refuse_locked() RETURNS trigger AS $$
BEGIN
    IF OLD.state IN ('signed', 'cancelled') THEN
        RAISE EXCEPTION USING MESSAGE = 'treatment session ' || OLD.id || ' is ' || OLD.state || ': ' || TG_OP || ' refused';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION USING MESSAGE = 'treatment sessions are never deleted';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION kc_session_refuse_insert_locked() RETURNS trigger AS $$
DECLARE s text;
BEGIN
    SELECT state INTO s FROM treatment_sessions_treatmentsession WHERE id = NEW.session_id;
    IF s IN ('signed', 'cancelled') THEN
        RAISE EXCEPTION USING MESSAGE = 'treatment session ' || NEW.session_id || ' is ' || s || ': ' || TG_TABLE_NAME || ' INSERT refused';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION kc_session_dose_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.ended_at IS NOT NULL THEN
        RAISE EXCEPTION USING MESSAGE = 'treatment_sessions_doseadministration: ' || TG_OP || ' refused';
    END IF;
    IF NEW.ledger_entry_id <> OLD.ledger_entry_id OR NEW.dose_mg <> OLD.dose_mg OR NEW.volume_ml <> OLD.volume_ml
       OR NEW.session_id <> OLD.session_id OR NEW.started_at <> OLD.started_at THEN
        RAISE EXCEPTION USING MESSAGE = 'treatment_sessions_doseadministration: only the stop time may be set';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER kc_session_locked BEFORE UPDATE OR DELETE ON treatment_sessions_treatmentsession
    FOR EACH ROW EXECUTE FUNCTION kc_session_refuse_locked();
CREATE TRIGGER kc_session_dose_guard BEFORE UPDATE OR DELETE ON treatment_sessions_doseadministration
    FOR EACH ROW EXECUTE FUNCTION kc_session_dose_guard();
"""


def _create_sql() -> str:
    sql = [FUNCTIONS]
    for table in APPEND_ONLY:
        sql.append(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION kc_session_row_refuse_change();"
        )
    for table in CHARTED:
        sql.append(
            f"CREATE TRIGGER {table}_not_locked BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION kc_session_refuse_insert_locked();"
        )
    return "\n".join(sql)


def _drop_sql() -> str:
    sql = [
        "DROP TRIGGER IF EXISTS kc_session_locked ON treatment_sessions_treatmentsession;",
        "DROP TRIGGER IF EXISTS kc_session_dose_guard ON treatment_sessions_doseadministration;",
    ]
    sql += [f"DROP TRIGGER IF EXISTS {t}_append_only ON {t};" for t in APPEND_ONLY]
    sql += [f"DROP TRIGGER IF EXISTS {t}_not_locked ON {t};" for t in CHARTED]
    sql += [
        "DROP FUNCTION IF EXISTS kc_session_row_refuse_change();",
        "DROP FUNCTION IF EXISTS kc_session_refuse_locked();",
        "DROP FUNCTION IF EXISTS kc_session_refuse_insert_locked();",
        "DROP FUNCTION IF EXISTS kc_session_dose_guard();",
    ]
    return "\n".join(sql)


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_create_sql())


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_drop_sql())


class Migration(migrations.Migration):
    dependencies = [("treatment_sessions", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
