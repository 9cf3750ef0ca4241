"""Query strings are strict: a parameter an endpoint does not take, or one given twice, is a 400 naming it,
so that a typo (`?userid=42`, `?ordering=`) never silently widens or reorders a query."""

from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.mixins import ListModelMixin
from rest_framework.settings import api_settings

from transactions.rules import MESSAGES

MAX_REPORTED_PARAMETERS = 10


class StrictQueryParametersMixin:
    """For API views: refuses unknown and repeated query parameters, after authentication and permissions.

    Known are the view's ``query_parameters``, the format override (`?format=json`) and, on a list, the
    parameters of its filters and of its paginator.
    """

    rejects_unknown_query_parameters = True  # also published in the OpenAPI schema (fido.openapi)
    query_parameters: tuple[str, ...] = ()

    def _is_list(self) -> bool:
        action = getattr(self, "action", None)
        return action == "list" if action is not None else isinstance(self, ListModelMixin)

    def known_query_parameters(self) -> set[str]:
        known = {api_settings.URL_FORMAT_OVERRIDE, *self.query_parameters} - {None}
        if self._is_list():
            filterset_class = getattr(self, "filterset_class", None)
            if filterset_class is not None:
                known.update(filterset_class.base_filters)
            paginator = getattr(self, "paginator", None)
            for attribute in ("cursor_query_param", "page_size_query_param", "page_query_param"):
                if getattr(paginator, attribute, None):
                    known.add(getattr(paginator, attribute))
        return known

    def check_query_parameters(self, request) -> None:
        known = self.known_query_parameters()
        errors = {}
        for name, values in request.query_params.lists():
            if name not in known:
                errors[name] = [ErrorDetail(MESSAGES["unknown_parameter"], code="unknown_parameter")]
            elif len(values) > 1:
                errors[name] = [ErrorDetail(MESSAGES["repeated_parameter"], code="repeated_parameter")]
            if len(errors) == MAX_REPORTED_PARAMETERS:
                break  # naming thousands of parameters would cost time and bytes
        if errors:
            raise ValidationError(errors)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.check_query_parameters(request)
