"""The back-office admin site (docs/back-office.md): Django's admin plus the service-wide overview on the index
and a user analytics page. Model admins register on it through ``admin.site`` as usual."""

from http import HTTPStatus

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
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


def login_locked_out(request, original_response=None, credentials=None) -> HttpResponse:
    """The admin login page with the lockout's reason, 429 (django-axes' AXES_LOCKOUT_CALLABLE).

    The same page whether the password sent was right or wrong (axes refuses before any password is
    checked), and whether the username exists or not.
    """
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    form = AdminAuthenticationForm(request)  # unbound: validating it would try to authenticate again
    form.cleaned_data = {}
    form.add_error(
        None,
        ValidationError(
            f"Too many failed logins for this username from your address. Try again in {minutes} minutes.",
            code="locked_out",
        ),
    )
    context = {
        **admin.site.each_context(request),
        "title": "Log in",
        "subtitle": None,
        "app_path": request.get_full_path(),
        "form": form,
    }
    # Rendered here: axes' middleware returns it after the response phase that renders template responses.
    return render(request, "admin/login.html", context, status=HTTPStatus.TOO_MANY_REQUESTS)
