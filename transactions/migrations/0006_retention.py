"""Retention: an idempotency record knows the transaction its stored response shows (and goes with it),
and the outbox gets the index that finds its oldest pending event and its done events past retention.

The outbox index is built CONCURRENTLY on PostgreSQL: the outbox holds a row per write ever made until
the purge first runs, and a plain CREATE INDEX would hold every write for the whole build.
"""

import django.db.models.deletion
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex


class AddIndexConcurrentlyOnPostgreSQL(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL (writes go on during the build); a plain one elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("transactions", "0005_name_hash_ignores_zero_width"),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencyrecord",
            name="transaction",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="transactions.transaction",
            ),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="outboxevent",
            index=models.Index(fields=["status", "created_at"], name="outbox_status_created_idx"),
        ),
    ]
