"""Filters of the alert list (docs/api.md, "Alerts"); a malformed value is a 400."""

import django_filters

from transactions.filters import UserIdFilter

from .models import Alert


class AlertFilter(django_filters.FilterSet):
    """Filters of the alert list: user, acknowledged or not, rule."""

    user_id = UserIdFilter(label="User id", help_text="Only this user's alerts.")
    acknowledged = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
        label="true or false",
    )
    rule = django_filters.ChoiceFilter(choices=Alert.Rule.choices, label="Only alerts of this rule")

    class Meta:
        model = Alert
        fields = ["user_id", "acknowledged", "rule"]
