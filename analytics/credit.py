"""The credit profile's formula (docs/api.md, "Credit profile"): a score from 300 to 850 and the
inputs it came from, for one user's lifetime figures."""

from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

UNIT = Decimal("0.0001")

# Each component is in [0, 1]; the weights sum to 1.
CREDIT_WEIGHTS = {
    "net_flow": Decimal("0.30"),
    "debit_credit_ratio": Decimal("0.20"),
    "regularity": Decimal("0.20"),
    "history_length": Decimal("0.20"),
    "activity": Decimal("0.10"),
}
CREDIT_MIN, CREDIT_MAX = 300, 850
HISTORY_FULL_DAYS = 730
ACTIVITY_FULL_COUNT = 100


def _clamp(value: Decimal) -> Decimal:
    return min(max(value, Decimal(0)), Decimal(1)).quantize(UNIT, rounding=ROUND_HALF_UP)


def credit_score(figures: dict) -> tuple[int, dict]:
    """The score (300-850) and the inputs it came from, for one user's lifetime figures.

    Deterministic: Decimal arithmetic only, components rounded half-up to 4 places, so the stored
    inputs reproduce the score exactly.
    """
    credit, debit = figures["credit_total"], figures["debit_total"]
    first = timezone.localtime(figures["first_transaction_at"])
    last = timezone.localtime(figures["last_transaction_at"])
    history_days = (figures["last_transaction_at"] - figures["first_transaction_at"]).days
    span_months = (last.year * 12 + last.month) - (first.year * 12 + first.month) + 1
    net_flow_ratio = (credit - debit) / (credit + debit)
    ratio = debit / credit if credit else None
    components = {
        "net_flow": _clamp((net_flow_ratio + 1) / 2),
        "debit_credit_ratio": _clamp(Decimal("1.5") - ratio) if ratio is not None else _clamp(Decimal(0)),
        "regularity": _clamp(Decimal(figures["active_months"]) / span_months),
        "history_length": _clamp(Decimal(history_days) / HISTORY_FULL_DAYS),
        "activity": _clamp(Decimal(figures["transaction_count"]) / ACTIVITY_FULL_COUNT),
    }
    weighted = sum(CREDIT_WEIGHTS[name] * value for name, value in components.items())
    score = CREDIT_MIN + int(((CREDIT_MAX - CREDIT_MIN) * weighted).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    inputs = {
        "transaction_count": figures["transaction_count"],
        "credit_total": str(credit.quantize(Decimal("0.01"))),
        "debit_total": str(debit.quantize(Decimal("0.01"))),
        "net_flow": str((credit - debit).quantize(Decimal("0.01"))),
        "debit_credit_ratio": str(ratio.quantize(UNIT, rounding=ROUND_HALF_UP)) if ratio is not None else None,
        "history_days": history_days,
        "active_months": figures["active_months"],
        "span_months": span_months,
        "components": {name: str(value) for name, value in components.items()},
    }
    return score, inputs
