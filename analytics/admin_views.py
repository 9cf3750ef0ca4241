"""Back-office analytics pages (SPEC §9): the service-wide overview on the admin index and one
user's figures with a chart of daily volume. The chart is SVG drawn on the server: no JavaScript,
nothing loaded from elsewhere."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone

from fido.dates import as_date
from transactions.rules import RuleFormField, parse_user_id
from transactions.selectors import user_transaction_history

from . import selectors
from .periods import INVALID_DAY, check_period, parse_day

OVERVIEW_DAYS = 30
VIEW_PERMISSION = "transactions.view_transaction"

# Chart geometry, in SVG user units; the drawing scales to the page width.
CHART_WIDTH = 960
CHART_HEIGHT = 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 84, 12, 12, 36
X_TICKS = 6
Y_TICKS = 4
PIXEL = Decimal("0.01")


class DayField(forms.DateField):
    """A calendar day written as the API takes it (analytics/periods.py), in a date picker."""

    default_error_messages = {"invalid": INVALID_DAY}
    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_day(value)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class UserAnalyticsForm(forms.Form):
    """The user id and optional inclusive period of the analytics page."""

    user_id = RuleFormField(
        label="User id", parse=parse_user_id, codes=("range",), invalid="integer", widget=forms.NumberInput
    )
    date_from = DayField(required=False, label="From")
    date_to = DayField(required=False, label="To")

    def clean(self):
        cleaned = super().clean()
        check_period(cleaned.get("date_from"), cleaned.get("date_to"))
        return cleaned


def index_context(request) -> dict:
    """What the admin index shows above the app list: the last 30 days and a user lookup form."""
    if not request.user.has_perm(VIEW_PERMISSION):
        return {}
    date_to = timezone.localdate()
    date_from = date_to - dt.timedelta(days=OVERVIEW_DAYS - 1)
    return {
        "overview": selectors.overview(date_from=date_from, date_to=date_to),
        "overview_days": OVERVIEW_DAYS,
        "user_form": UserAnalyticsForm(auto_id="id_lookup_%s"),
    }


def user_analytics_view(request):
    """One user's §6 figures over an optional period, with a chart of daily credit and debit volume."""
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    form = UserAnalyticsForm(request.GET or None)
    context = {
        **admin.site.each_context(request),
        "title": "User analytics",
        "form": form,
    }
    status = 200
    if form.is_bound and form.is_valid():
        user_id = form.cleaned_data["user_id"]
        date_from, date_to = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
        context["title"] = f"Analytics of user {user_id}"
        context["user_id"] = user_id
        if user_transaction_history(user_id=user_id).exists():
            days = selectors.user_daily(user_id=user_id, date_from=date_from, date_to=date_to)
            context["figures"] = selectors.user_analytics(user_id=user_id, date_from=date_from, date_to=date_to)
            context["chart"] = daily_volume_chart(days, date_from=date_from, date_to=date_to)
        else:
            context["unknown_user"] = True
            status = 404
    elif form.is_bound:
        status = 400
    return TemplateResponse(request, "admin/analytics/user_analytics.html", context, status=status)


def _nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is at least `value` (a readable axis top)."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for _ in range(2):
        scale = Decimal(10) ** exponent
        for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
            if step * scale >= value:
                return step * scale
        exponent += 1
    return value


def _units(value: Decimal) -> str:
    return str(value.quantize(PIXEL, rounding=ROUND_HALF_UP))


def _axis_money(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def daily_volume_chart(days: list[dict], *, date_from: dt.date | None, date_to: dt.date | None) -> dict | None:
    """Bars of credit and debit totals per calendar day on a continuous date axis (quiet days stay empty).

    `days` are ``selectors.user_daily`` rows. Returns the geometry the template draws, or None when
    there is nothing to draw.
    """
    if not days:
        return None
    first = date_from or as_date(days[0]["date"])
    last = date_to or as_date(days[-1]["date"])
    span = (last - first).days + 1
    plot_width = Decimal(CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT)
    plot_height = Decimal(CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM)
    slot = plot_width / span
    bar_width = max(slot * Decimal("0.42"), Decimal("0.6"))
    top = _nice_ceiling(max(max(Decimal(d["credit_total"]), Decimal(d["debit_total"])) for d in days))
    baseline = MARGIN_TOP + plot_height

    bars = []
    for day in days:
        x = MARGIN_LEFT + slot * (as_date(day["date"]) - first).days + slot * Decimal("0.08")
        for kind, offset in (("credit", Decimal(0)), ("debit", bar_width)):
            amount = Decimal(day[f"{kind}_total"])
            if amount <= 0:
                continue
            height = max(plot_height * amount / top, Decimal("0.5"))
            bars.append(
                {
                    "kind": kind,
                    "x": _units(x + offset),
                    "y": _units(baseline - height),
                    "width": _units(bar_width),
                    "height": _units(height),
                    "title": f"{day['date']}: {kind} {_axis_money(amount)} ({day['transaction_count']} transactions)",
                }
            )
    y_ticks = [
        {"y": _units(baseline - plot_height * step / Y_TICKS), "label": _axis_money(top * step / Y_TICKS)}
        for step in range(Y_TICKS + 1)
    ]
    tick_days = sorted({round(i * (span - 1) / (X_TICKS - 1)) for i in range(X_TICKS)}) if span > 1 else [0]
    x_ticks = [
        {
            "x": _units(MARGIN_LEFT + slot * offset + slot / 2),
            "label": (first + dt.timedelta(days=offset)).isoformat(),
            # The outer labels lean inwards so that they stay inside the drawing.
            "anchor": "start" if offset == 0 and span > 1 else "end" if offset == span - 1 and span > 1 else "middle",
        }
        for offset in tick_days
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": MARGIN_LEFT,
        "right": CHART_WIDTH - MARGIN_RIGHT,
        "baseline": _units(baseline),
        "label_y": _units(baseline + 22),
        "bars": bars,
        "y_ticks": y_ticks,
        "x_ticks": x_ticks,
        "first": first.isoformat(),
        "last": last.isoformat(),
    }
