"""Back-office analytics pages (docs/back-office.md): the service-wide overview on the admin index and one
user's figures with a chart of daily volume. The chart is SVG drawn on the server: no JavaScript,
nothing loaded from elsewhere."""

import datetime as dt
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

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
CHART_HEIGHT = 380
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 84, 12, 24, 36
PANEL_GAP = 34  # between the credit band and the debit band, room for the debit band's heading
X_TICKS = 8
Y_TICKS = 4
PIXEL = Decimal("0.01")
# One bar per day up to about three months, per week up to two years, per month up to ten years, else per year.
DAILY_MAX_DAYS = 92
WEEKLY_MAX_DAYS = 731
MONTHLY_MAX_DAYS = 3653
EARLIEST_CHART_DAY = dt.date(1900, 1, 1)  # no transaction is older
UNIT_TITLES = {
    "day": "Daily volume",
    "week": "Weekly volume (Monday to Sunday)",
    "month": "Monthly volume",
    "year": "Yearly volume",
}


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


def _nice_step(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is at least `value` (a readable axis step)."""
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


def _bin_start(day: dt.date, unit: str) -> dt.date:
    if unit == "year":
        return day.replace(month=1, day=1)
    if unit == "week":
        return day - dt.timedelta(days=day.weekday())  # Monday
    if unit == "month":
        return day.replace(day=1)
    return day


def _next_bin(start: dt.date, unit: str) -> dt.date:
    if unit == "year":
        return start.replace(year=start.year + 1)
    if unit == "week":
        return start + dt.timedelta(days=7)
    if unit == "month":
        return (start + dt.timedelta(days=32)).replace(day=1)
    return start + dt.timedelta(days=1)


def _bin_label(start: dt.date, unit: str, *, short: bool) -> str:
    if unit == "year":
        return str(start.year)
    if unit == "month":
        return start.strftime("%b %Y")
    if unit == "week" and not short:
        return f"week of {start.isoformat()} to {(start + dt.timedelta(days=6)).isoformat()}"
    return start.isoformat()


def chart_unit(span_days: int) -> str:
    """What one bar stands for: a day up to DAILY_MAX_DAYS, a week up to WEEKLY_MAX_DAYS, a month up to
    MONTHLY_MAX_DAYS, else a year, so that a bar never gets thinner than a few pixels."""
    if span_days <= DAILY_MAX_DAYS:
        return "day"
    if span_days <= WEEKLY_MAX_DAYS:
        return "week"
    if span_days <= MONTHLY_MAX_DAYS:
        return "month"
    return "year"


def _panel(kind: str, values: list[Decimal], *, top: Decimal, height: Decimal, slot: Decimal, titles: list[str]):
    """One series (credits or debits) on its own axis, from 0 at the bottom of its band to a round top."""
    step = _nice_step(max(values) / Y_TICKS)
    steps = max(int((max(values) / step).to_integral_value(rounding=ROUND_CEILING)), 1)
    scale = height / (step * steps)
    bottom = top + height
    bar_width = max(slot * Decimal("0.8"), Decimal(1))
    bars = [
        {
            "kind": kind,
            "x": _units(MARGIN_LEFT + slot * index + (slot - bar_width) / 2),
            "y": _units(bottom - max(value * scale, Decimal(1))),
            "width": _units(bar_width),
            "height": _units(max(value * scale, Decimal(1))),
            "title": titles[index],
        }
        for index, value in enumerate(values)
        if value > 0
    ]
    ticks = [{"y": _units(bottom - step * n * scale), "label": _axis_money(step * n)} for n in range(steps + 1)]
    return {
        "kind": kind,
        "label": {"credit": "Credits", "debit": "Debits"}[kind],
        "label_y": _units(top - 6),
        "baseline": _units(bottom),
        "bars": bars,
        "y_ticks": ticks,
    }


def daily_volume_chart(days: list[dict], *, date_from: dt.date | None, date_to: dt.date | None) -> dict | None:
    """Credit and debit totals on a continuous date axis (quiet periods stay empty), per day, week or month.

    Credits and debits get a band each, one above the other on the same time axis, each with its own
    labelled scale, so that neither is flattened by the other. `days` are ``selectors.user_daily`` rows.
    Returns the geometry the template draws, or None when there is nothing to draw.
    """
    if not days:
        return None
    earliest, latest = as_date(days[0]["date"]), as_date(days[-1]["date"])
    # The period asked for, but no earlier than any transaction can be and no later than today (or the last
    # transaction): `date_to=9999-12-31` draws up to now, not 8,000 empty years.
    first = max(date_from or earliest, EARLIEST_CHART_DAY)
    last = min(date_to or latest, max(timezone.localdate(), latest))
    unit = chart_unit((last - first).days + 1)

    bins: dict[dt.date, dict] = {}
    start = _bin_start(first, unit)
    while start <= last:
        bins[start] = {"credit": Decimal(0), "debit": Decimal(0), "count": 0}
        start = _next_bin(start, unit)
    for day in days:
        totals = bins[_bin_start(as_date(day["date"]), unit)]
        totals["credit"] += Decimal(day["credit_total"])
        totals["debit"] += Decimal(day["debit_total"])
        totals["count"] += day["transaction_count"]

    starts = list(bins)
    titles = [
        f"{_bin_label(start, unit, short=False)}: credits {_axis_money(totals['credit'])}, "
        f"debits {_axis_money(totals['debit'])} ({totals['count']} transactions)"
        for start, totals in bins.items()
    ]
    slot = Decimal(CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / len(bins)
    band = (Decimal(CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM) - PANEL_GAP) / 2
    panels = [
        _panel(
            kind,
            [totals[kind] for totals in bins.values()],
            top=MARGIN_TOP + (band + PANEL_GAP) * index,
            height=band,
            slot=slot,
            titles=titles,
        )
        for index, kind in enumerate(("credit", "debit"))
    ]
    label_every = max(1, -(-len(starts) // X_TICKS))
    x_ticks = [
        {"x": _units(MARGIN_LEFT + slot * index + slot / 2), "label": _bin_label(starts[index], unit, short=True)}
        for index in range(0, len(starts), label_every)
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": MARGIN_LEFT,
        "right": CHART_WIDTH - MARGIN_RIGHT,
        "label_y": _units(Decimal(CHART_HEIGHT - MARGIN_BOTTOM) + 22),
        "panels": panels,
        "bars": [bar for panel in panels for bar in panel["bars"]],
        "x_ticks": x_ticks,
        "unit": unit,
        "title": UNIT_TITLES[unit],
        "first": first.isoformat(),
        "last": last.isoformat(),
    }
