"""No chair, room, staff place or patient is ever booked twice at once: on PostgreSQL the database
itself refuses an overlapping live hold (exclusion constraints over time ranges, `btree_gist` for
the equality parts). Two people booking the same slot at the same moment: the second insert fails
with an IntegrityError, which `booking` turns into "this slot was just taken".

SQLite has no exclusion constraints. There every booking runs in a transaction that takes the write
lock at BEGIN (`transaction_mode = IMMEDIATE`, settings.py) and re-checks for overlap inside it, so
the check and the insert cannot interleave with another writer's (`booking._fit`, read inside the booking transaction).
"""

from django.db import migrations

LIVE_APPOINTMENT = "state IN ('booked', 'checked_in', 'completed')"

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """ALTER TABLE scheduling_hold ADD CONSTRAINT hold_resource_no_overlap
       EXCLUDE USING gist (resource_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
       WHERE (released_at IS NULL AND resource_id IS NOT NULL)""",
    """ALTER TABLE scheduling_hold ADD CONSTRAINT hold_staff_no_overlap
       EXCLUDE USING gist (staff_id WITH =, lane WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
       WHERE (released_at IS NULL AND staff_id IS NOT NULL)""",
    f"""ALTER TABLE scheduling_appointment ADD CONSTRAINT appt_patient_no_overlap
       EXCLUDE USING gist (patient_id WITH =, tstzrange(starts_at, held_until, '[)') WITH &&)
       WHERE ({LIVE_APPOINTMENT})""",
]
BACKWARD = [
    "ALTER TABLE scheduling_appointment DROP CONSTRAINT IF EXISTS appt_patient_no_overlap",
    "ALTER TABLE scheduling_hold DROP CONSTRAINT IF EXISTS hold_staff_no_overlap",
    "ALTER TABLE scheduling_hold DROP CONSTRAINT IF EXISTS hold_resource_no_overlap",
]


def _run(statements: list[str]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
