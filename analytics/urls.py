from django.urls import path

from transactions.urls import USER_PATH

from .views import AlertListView, CreditProfileView, OverviewView, UserAnalyticsView, UserDailyView

urlpatterns = [
    path(f"{USER_PATH}analytics/", UserAnalyticsView.as_view(), name="user-analytics"),
    path(f"{USER_PATH}analytics/daily/", UserDailyView.as_view(), name="user-analytics-daily"),
    path("analytics/overview/", OverviewView.as_view(), name="analytics-overview"),
    path("alerts/", AlertListView.as_view(), name="alert-list"),
    path(f"{USER_PATH}credit-profile/", CreditProfileView.as_view(), name="user-credit-profile"),
]
