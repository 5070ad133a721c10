"""Patient search indexes per clinic, usable by LIKE 'abc%' whatever the database collation.

Before: one index per search key (and on PostgreSQL a second, `*_like`, with varchar_pattern_ops),
none of them starting with clinic_id, plus a lone clinic_id index. After: one (clinic_id, key)
index per key, with the varchar_pattern_ops operator class on PostgreSQL (SQLite ignores operator
classes and gets plain composite indexes), and no lone clinic_id index, since every patient index
starts with clinic_id.

The old single-column indexes are dropped by name, found by introspection, rather than by
AlterField: AlterField would rebuild the whole table five times on SQLite and drop and re-validate
the clinic foreign key on PostgreSQL. Reversing recreates them as Django would.
"""

import copy

import django.db.models.deletion
from django.db import migrations, models

FIELDS = ("clinic", "last_name_key", "first_name_key", "preferred_name_key", "phone_key")


def drop_single_column_indexes(apps, schema_editor):
    model = apps.get_model("patients", "Patient")
    table = model._meta.db_table
    columns = {model._meta.get_field(name).column for name in FIELDS}
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    for name, info in sorted(constraints.items()):
        if (
            info["index"]
            and not info["unique"]
            and not info["primary_key"]
            and info["columns"]
            and len(info["columns"]) == 1
            and info["columns"][0] in columns
            and name.startswith(f"{table}_")  # names Django gave them, never a hand-made index
        ):
            schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")


def recreate_single_column_indexes(apps, schema_editor):
    model = apps.get_model("patients", "Patient")
    for name in FIELDS:
        indexed = model._meta.get_field(name)
        unindexed = copy.copy(indexed)
        unindexed.db_index = False
        schema_editor.alter_field(model, unindexed, indexed)


class Migration(migrations.Migration):
    dependencies = [
        ("clinics", "0001_initial"),
        ("patients", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(drop_single_column_indexes, recreate_single_column_indexes),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="patient",
                    name="clinic",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="patients",
                        to="clinics.clinic",
                    ),
                ),
                migrations.AlterField(
                    model_name="patient",
                    name="first_name_key",
                    field=models.CharField(editable=False, max_length=100),
                ),
                migrations.AlterField(
                    model_name="patient",
                    name="last_name_key",
                    field=models.CharField(editable=False, max_length=100),
                ),
                migrations.AlterField(
                    model_name="patient",
                    name="phone_key",
                    field=models.CharField(blank=True, editable=False, max_length=40),
                ),
                migrations.AlterField(
                    model_name="patient",
                    name="preferred_name_key",
                    field=models.CharField(blank=True, editable=False, max_length=100),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                fields=["clinic", "last_name_key"],
                name="patient_last_name_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                fields=["clinic", "first_name_key"],
                name="patient_first_name_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                fields=["clinic", "preferred_name_key"],
                name="patient_preferred_name_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                fields=["clinic", "phone_key"],
                name="patient_phone_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                fields=["clinic", "mrn"],
                name="patient_mrn_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ),
    ]
