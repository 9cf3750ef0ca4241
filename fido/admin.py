"""The back-office admin site (SPEC §9): Django's admin plus the service-wide overview on the index
and a user analytics page. Model admins register on it through ``admin.site`` as usual."""

from django.contrib import admin
from django.urls import path

from analytics.admin_views import index_context, user_analytics_view


class FidoAdminSite(admin.AdminSite):
    """Django's admin site with the analytics pages of the back office."""

    site_header = "Fido back office"
    site_title = "Fido back office"
    index_title = "Back office"
    index_template = "admin/analytics/index.html"
    # The app list beside every page repeats the index and the breadcrumbs, and takes a quarter of a
    # 1,280 px screen from the lists; without it every list fits.
    enable_nav_sidebar = False

    def get_urls(self):
        return [
            path("user-analytics/", self.admin_view(user_analytics_view), name="user-analytics"),
            *super().get_urls(),
        ]

    def index(self, request, extra_context=None):
        return super().index(request, extra_context={**index_context(request), **(extra_context or {})})
