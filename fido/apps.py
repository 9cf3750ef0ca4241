from django.contrib.admin.apps import AdminConfig


class FidoAdminConfig(AdminConfig):
    """Django admin with Fido's own site: the overview on the index and the user analytics page."""

    default_site = "fido.admin.FidoAdminSite"
