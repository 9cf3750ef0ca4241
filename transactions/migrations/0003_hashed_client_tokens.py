"""Existing API clients keep working: their plain DRF keys become knox digests, then the plain keys go.

What `create_api_client` made, a member of the `api-read`/`api-write` group whose password is
unusable, becomes an ApiClient of that scope (write when in both) and leaves the group; each of its
DRF tokens becomes a knox row holding only the token's SHA-512 digest, so the same
`Authorization: Token <key>` keeps working. The table of plain keys is then dropped, and so are the
groups once empty. A token of any other user (made by hand, outside `create_api_client`) has no
scope to carry over: it is dropped, and its user named here, for the operator to re-issue.
Irreversible: the plain keys are gone.
"""

import hashlib
import sys

from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import migrations
from django.db.migrations.recorder import MigrationRecorder

LEGACY_TABLE = "authtoken_token"
GROUP_SCOPES = [("api-read", "read"), ("api-write", "write")]  # later wins: write holds read
KEY_PREFIX_LENGTH = 15  # knox's CONSTANTS.TOKEN_KEY_LENGTH


def digest(key: str) -> str:
    # knox.crypto.hash_token with SECURE_HASH_ALGORITHM sha512, frozen here as migrations must be.
    return hashlib.sha512(key.encode()).hexdigest()


def forward(apps, schema_editor):
    connection = schema_editor.connection
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Group = apps.get_model("auth", "Group")
    ApiClient = apps.get_model("transactions", "ApiClient")
    AuthToken = apps.get_model("knox", "AuthToken")

    scopes = {}
    for group_name, scope in GROUP_SCOPES:
        members = User.objects.filter(groups__name=group_name, password__startswith=UNUSABLE_PASSWORD_PREFIX)
        for user_id in members.values_list("pk", flat=True):
            scopes[user_id] = scope
    for user in User.objects.filter(pk__in=scopes):
        ApiClient.objects.get_or_create(user=user, defaults={"scope": scopes[user.pk], "created_at": user.date_joined})

    if LEGACY_TABLE in connection.introspection.table_names():
        table = connection.ops.quote_name(LEGACY_TABLE)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {connection.ops.quote_name('key')}, user_id FROM {table}")  # noqa: S608
            rows = cursor.fetchall()
        dropped = []
        for key, user_id in rows:
            if user_id in scopes:
                AuthToken.objects.create(digest=digest(key), token_key=key[:KEY_PREFIX_LENGTH], user_id=user_id)
            else:
                dropped.append(user_id)
        schema_editor.execute(f"DROP TABLE {table}")
        MigrationRecorder(connection).migration_qs.filter(app="authtoken").delete()
        if dropped:
            names = ", ".join(sorted(User.objects.filter(pk__in=dropped).values_list("username", flat=True)))
            sys.stdout.write(
                f"\n  Dropped {len(dropped)} token(s) of users who are not API clients ({names}); "
                "issue them a client with create_api_client.\n"
            )

    # Scopes now live on ApiClient: clients leave the groups, which go unless someone else is in them.
    for group_name, _ in GROUP_SCOPES:
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            User.groups.through.objects.filter(group=group, user_id__in=scopes).delete()
            if not User.objects.filter(groups=group).exists():
                group.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("transactions", "0002_api_client"),
        ("knox", "0009_extend_authtoken_field"),
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(forward, elidable=False)]
