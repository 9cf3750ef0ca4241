from django.apps import AppConfig


class TransactionsConfig(AppConfig):
    name = "transactions"
    label = "transactions"
    verbose_name = "Transactions"
