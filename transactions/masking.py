"""Who may read a transaction owner's full name, and what everyone else sees (docs/back-office.md)."""

VIEW_FULL_NAME = "transactions.view_full_name"


def mask_name(name: str) -> str:
    """Each word's first letter, then stars: at least three, so a short word does not show its length."""
    return " ".join(word[0] + "*" * max(3, len(word) - 1) for word in name.split())


def can_view_full_name(user) -> bool:
    """API clients hold the permission through their scope; staff only when granted it."""
    return user.has_perm(VIEW_FULL_NAME)


def _mask_record(record):
    if isinstance(record, dict) and isinstance(record.get("full_name"), str):
        return {**record, "full_name": mask_name(record["full_name"])}
    return record


def masked(data):
    """A transaction representation, or a page of them, with every full name masked."""
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return {**data, "results": [_mask_record(record) for record in data["results"]]}
    if isinstance(data, list):
        return [_mask_record(record) for record in data]
    return _mask_record(data)


class FullNameMaskingMixin:
    """Masks full names in successful responses for a user without `transactions.view_full_name`.

    Applied to the finished response, so cached pages and replayed idempotent responses, which are
    shared or stored, are masked per reader.
    """

    def finalize_response(self, request, response, *args, **kwargs):
        if response.status_code < 400 and response.data is not None and not can_view_full_name(request.user):
            response.data = masked(response.data)
        return super().finalize_response(request, response, *args, **kwargs)
