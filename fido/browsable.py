"""Log in and out of the browsable API (its "Log in" link): a session for staff accounts only, as in the admin.

API clients have no password (they use `Authorization: Token <key>`), so only staff can log in here.
"""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.views import LoginView, LogoutView

login = LoginView.as_view(template_name="rest_framework/login.html", authentication_form=AdminAuthenticationForm)
# A POST (the browsable API's "Log out" sends one), back to the page it came from.
logout = LogoutView.as_view()
