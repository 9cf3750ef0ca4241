from django.urls import path, register_converter

from transactions.rules import user_id_error

from .alerts_api import AlertListView, CreditProfileView
from .views import OverviewView, UserAnalyticsView, UserDailyView, UserTransactionHistoryView


class UserIdConverter:
    """A user id in a path: 1 to 2^63-1, anything else does not match (404)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        user_id = int(value)
        if user_id_error(user_id):
            raise ValueError("user id out of range")
        return user_id

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(UserIdConverter, "user_id")

urlpatterns = [
    path("users/<user_id:user_id>/transactions/", UserTransactionHistoryView.as_view(), name="user-transactions"),
    path("users/<user_id:user_id>/analytics/", UserAnalyticsView.as_view(), name="user-analytics"),
    path("users/<user_id:user_id>/analytics/daily/", UserDailyView.as_view(), name="user-analytics-daily"),
    path("analytics/overview/", OverviewView.as_view(), name="analytics-overview"),
    path("alerts/", AlertListView.as_view(), name="alert-list"),
    path("users/<user_id:user_id>/credit-profile/", CreditProfileView.as_view(), name="user-credit-profile"),
]
