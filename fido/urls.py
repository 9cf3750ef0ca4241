from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from . import health
from .api_root import ApiRootView
from .browsable import login, logout
from .docs import RedocView, SwaggerView

api_v1 = [
    path("", ApiRootView.as_view(), name="api-root"),
    path("", include("transactions.urls")),
    path("", include("analytics.urls")),
]
# The browsable API's login and logout links (staff sessions), under the name DRF looks for.
api_auth = ([path("login/", login, name="login"), path("logout/", logout, name="logout")], "rest_framework")

urlpatterns = [
    # The way in: the API's documentation (the admin's "View site" comes here too).
    path("", RedirectView.as_view(pattern_name="swagger-ui", permanent=False), name="home"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/auth/", include(api_auth)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

handler400 = "fido.views.bad_request"
handler403 = "fido.views.permission_denied"
handler404 = "fido.views.not_found"
handler500 = "fido.views.server_error"
