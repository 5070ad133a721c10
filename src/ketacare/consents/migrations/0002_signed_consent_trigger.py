"""Second line of defence for signed consents: on PostgreSQL the database itself refuses a change to
what the patient signed, a second countersignature, a new PDF, a changed withdrawal, and any DELETE
(`Consent.save()` refuses the same first). TRUNCATE, used only by test tear-down, is not affected."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION consents_consent_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION USING MESSAGE = 'consents_consent: signed consents are never deleted';
    END IF;
    IF (NEW.clinic_id, NEW.patient_id, NEW.document_code, NEW.document_version, NEW.document_title,
        NEW.body_sha256, NEW.signed_name, NEW.signed_on, NEW.agreed, NEW.signed_at, NEW.signer_ip,
        NEW.signer_user_agent, NEW.signed_via, NEW.link_id, NEW.presented_by_id, NEW.requires_countersign)
       IS DISTINCT FROM
       (OLD.clinic_id, OLD.patient_id, OLD.document_code, OLD.document_version, OLD.document_title,
        OLD.body_sha256, OLD.signed_name, OLD.signed_on, OLD.agreed, OLD.signed_at, OLD.signer_ip,
        OLD.signer_user_agent, OLD.signed_via, OLD.link_id, OLD.presented_by_id, OLD.requires_countersign) THEN
        RAISE EXCEPTION USING MESSAGE = 'consents_consent: the signed fields cannot change';
    END IF;
    IF OLD.countersigned_at IS NOT NULL AND (NEW.countersigned_by_id, NEW.countersigned_role, NEW.countersigned_at)
       IS DISTINCT FROM (OLD.countersigned_by_id, OLD.countersigned_role, OLD.countersigned_at) THEN
        RAISE EXCEPTION USING MESSAGE = 'consents_consent: the countersignature cannot change';
    END IF;
    IF OLD.pdf_sha256 <> '' AND (NEW.pdf, NEW.pdf_sha256, NEW.pdf_generated_at)
       IS DISTINCT FROM (OLD.pdf, OLD.pdf_sha256, OLD.pdf_generated_at) THEN
        RAISE EXCEPTION USING MESSAGE = 'consents_consent: the signed PDF cannot change';
    END IF;
    IF OLD.withdrawn_at IS NOT NULL AND (NEW.withdrawn_at, NEW.withdrawn_by_id, NEW.withdrawal_reason,
        NEW.withdrawal_received_via, NEW.status)
       IS DISTINCT FROM (OLD.withdrawn_at, OLD.withdrawn_by_id, OLD.withdrawal_reason,
        OLD.withdrawal_received_via, OLD.status) THEN
        RAISE EXCEPTION USING MESSAGE = 'consents_consent: the withdrawal cannot change';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER consents_consent_signed_immutable
    BEFORE UPDATE OR DELETE ON consents_consent
    FOR EACH ROW EXECUTE FUNCTION consents_consent_refuse_change();
"""
DROP = """
DROP TRIGGER IF EXISTS consents_consent_signed_immutable ON consents_consent;
DROP FUNCTION IF EXISTS consents_consent_refuse_change();
"""


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("consents", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
