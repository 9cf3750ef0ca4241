"""The audit trail's table, and on PostgreSQL a trigger that keeps it append-only (a no-op elsewhere).

The trigger refuses every UPDATE and DELETE of an audit record, with two narrow exceptions, each
needing a setting local to the database transaction (transactions/audit.py sets them):
- `fido.audit_purge = on`: the retention purge may delete records more than 365 days old;
- `fido.audit_reencrypt = on`: key rotation may rewrite the two ciphertext columns, nothing else.
TRUNCATE is left to privileges (a role without it), as Django's test flush needs it.
"""

import django.utils.timezone
import transactions.fields
from django.db import migrations, models


GUARD_SQL = """
CREATE FUNCTION transactions_auditrecord_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('fido.audit_purge', true) = 'on' AND OLD.at < now() - interval '365 days' THEN
            RETURN OLD;
        END IF;
    ELSIF current_setting('fido.audit_reencrypt', true) = 'on'
          AND (to_jsonb(NEW) - 'name_from' - 'name_to') = (to_jsonb(OLD) - 'name_from' - 'name_to') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit records are append-only: % of record % refused', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER transactions_auditrecord_append_only
    BEFORE UPDATE OR DELETE ON transactions_auditrecord
    FOR EACH ROW EXECUTE FUNCTION transactions_auditrecord_append_only();
"""
UNGUARD_SQL = """
DROP TRIGGER IF EXISTS transactions_auditrecord_append_only ON transactions_auditrecord;
DROP FUNCTION IF EXISTS transactions_auditrecord_append_only();
"""


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD_SQL, params=None)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNGUARD_SQL, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('transactions', '0003_hashed_client_tokens'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditRecord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(default=django.utils.timezone.now)),
                ('actor', models.CharField(max_length=200)),
                ('actor_kind', models.CharField(choices=[('client', 'API client'), ('staff', 'Staff user'), ('command', 'Command'), ('system', 'Other (no request, no command)')], max_length=7)),
                ('request_id', models.CharField(blank=True, default='', max_length=128)),
                ('action', models.CharField(choices=[('created', 'Created'), ('updated', 'Updated'), ('deleted', 'Deleted')], max_length=7)),
                ('transaction_id', models.BigIntegerField(blank=True, null=True)),
                ('changes', models.JSONField(blank=True, default=dict)),
                ('name_from', transactions.fields.EncryptedTextField(blank=True, null=True)),
                ('name_to', transactions.fields.EncryptedTextField(blank=True, null=True)),
                ('row_count', models.PositiveIntegerField(blank=True, null=True)),
                ('id_ranges', models.JSONField(blank=True, null=True)),
                ('first_id', models.BigIntegerField(blank=True, null=True)),
                ('last_id', models.BigIntegerField(blank=True, null=True)),
            ],
            options={
                'ordering': ['id'],
                'indexes': [models.Index(fields=['transaction_id', 'id'], name='audit_txn_idx'), models.Index(condition=models.Q(('first_id__isnull', False)), fields=['first_id', 'last_id'], name='audit_bulk_idx'), models.Index(fields=['at'], name='audit_at_idx'), models.Index(fields=['actor', 'id'], name='audit_actor_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('transaction_id__isnull', False), ('row_count__isnull', False), _connector='OR'), name='audit_names_its_rows')],
            },
        ),
        migrations.RunPython(guard, unguard),
    ]
