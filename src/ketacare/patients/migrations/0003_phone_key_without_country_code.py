"""Phone search keys drop the North American country code ('+1 312 555 0142' -> '3125550142')."""

from django.db import migrations


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    Patient = apps.get_model("patients", "Patient")
    stale = Patient.objects.filter(phone_key__regex=r"^1[0-9]{10}$")
    for patient in stale.only("pk", "phone_key").iterator(chunk_size=2000):
        Patient.objects.filter(pk=patient.pk).update(phone_key=patient.phone_key[1:])


class Migration(migrations.Migration):
    dependencies = [("patients", "0002_search_prefix_indexes")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
