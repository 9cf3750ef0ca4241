from django.urls import path, register_converter
from rest_framework.routers import DefaultRouter

from .audit_views import TransactionAuditHistoryView
from .rules import user_id_error
from .views import TransactionViewSet, UserTransactionHistoryView


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
# The paths about one user (here and in analytics/urls.py) start with this.
USER_PATH = "users/<user_id:user_id>/"

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("transactions", TransactionViewSet, basename="transaction")

urlpatterns = [
    *router.urls,
    path("transactions/<int:pk>/history/", TransactionAuditHistoryView.as_view(), name="transaction-history"),
    path(f"{USER_PATH}transactions/", UserTransactionHistoryView.as_view(), name="user-transactions"),
]
