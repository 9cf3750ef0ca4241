from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TransactionsConfig(AppConfig):
    name = "transactions"
    verbose_name = "Transactions"

    def ready(self) -> None:
        from . import history
        from .clients import sync_scope_groups

        history.register_kind()

        # Sent once per app after migrate; the last call sees every app's permissions.
        post_migrate.connect(sync_scope_groups, dispatch_uid="transactions.sync_scope_groups")
