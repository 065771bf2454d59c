"""Every API error has one shape, whatever raised it:

    {"error": {"status": 400, "code": "invalid", "message": "…", "fields": {"cursor": ["…"]}}}

`fields` is present only for validation errors and names each bad field (query parameter or body
key) with its messages. `code` is stable for scripts to branch on: invalid, not_authenticated,
authentication_failed, permission_denied, not_found, method_not_allowed, throttled, conflict,
unavailable, parse_error, unsupported_media_type, not_acceptable, error.
"""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = _("The task is not in a state that allows this.")


class Unavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"
    default_detail = _("The task queue (Redis) cannot be reached; nothing was sent.")


def error_body(status_code: int, code: str, message: str, fields: dict | None = None) -> dict:
    body = {"status": status_code, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def api_exception_handler(exc, context):
    response = exception_handler(exc, context)  # maps Http404 and Django's PermissionDenied too
    if response is None:
        return None  # not an API exception: Django's 500 handling (logged) takes over
    detail = response.data
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(detail, dict):
            fields = {key: [str(item) for item in (value if isinstance(value, list) else [value])]
                      for key, value in detail.items() if key != "non_field_errors"}
            general = detail.get("non_field_errors") or []
            message = str(general[0]) if general else gettext("Some fields are not valid: %(fields)s.") % {
                "fields": ", ".join(sorted(fields))}
        else:
            fields = {}
            message = "; ".join(str(item) for item in detail) if isinstance(detail, list) else str(detail)
        response.data = error_body(response.status_code, "invalid", message, fields)
        return response
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else code
    if isinstance(exc, exceptions.NotAuthenticated) or code == "not_authenticated":
        code = "not_authenticated"
    message = str(detail.get("detail", detail)) if isinstance(detail, dict) else str(detail)
    response.data = error_body(response.status_code, code, message)
    return response


def json_error(status_code: int, code: str, message: str, fields: dict | None = None, headers=None):
    """The same shape from a plain Django view (the progress stream is not a DRF view)."""
    from django.http import JsonResponse

    response = JsonResponse(error_body(status_code, code, message, fields), status=status_code)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def not_found_response() -> Response:
    return Response(error_body(404, "not_found", gettext("No such task.")), status=404)
