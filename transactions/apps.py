from django.apps import AppConfig


class TransactionsConfig(AppConfig):
    name = "transactions"
    verbose_name = "Transactions"

    def ready(self) -> None:
        from django.contrib import admin
        from knox.models import AuthToken

        # The tasks register in every process, as analytics' do (beat sends the purges by name).
        from . import history, tasks  # noqa: F401

        history.register_kind()

        # API client tokens are made and revoked by operator commands only (transactions/clients.py).
        if admin.site.is_registered(AuthToken):
            admin.site.unregister(AuthToken)
