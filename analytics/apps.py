from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        # The receivers connect to the write side's signals; the tasks register under the names that
        # transactions/outbox.py publishes by (in every process, so in-process tasks run in embedded mode).
        from . import answers, receivers, tasks  # noqa: F401

        answers.register_kinds()
