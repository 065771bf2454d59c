"""Additions to the generated OpenAPI description: the two progress-stream endpoints are plain async
views (dashboard.api.stream), which drf-spectacular does not see, so they are described here."""

from __future__ import annotations

_TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
_ERRORS = {
    "401": {"description": "No credentials, or a token that is not valid."},
    "404": {"description": "No such task, or not yours to see."},
    "429": {"description": "Over the token's request budget."},
}


def add_stream_endpoints(result, generator, request, public):
    paths = result.setdefault("paths", {})
    task_ref = {"$ref": "#/components/schemas/Task"}
    paths["/api/tasks/{task_id}/events/"] = {"get": {
        "operationId": "tasks_events",
        "summary": "Follow a task (server-sent events)",
        "description": (
            "`text/event-stream`: `event: task` with the task's JSON (the Task schema) at once and after every "
            "change; `event: end` when it reaches a final state, then the stream closes. A `: keep-alive` "
            "comment every 15 s. The stream also closes after API_STREAM_MAX_SECONDS; reconnect to go on."),
        "tags": ["tasks"],
        "parameters": [_TASK_ID],
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "responses": {"200": {"description": "The event stream.", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                      **_ERRORS},
    }}
    paths["/api/tasks/{task_id}/wait/"] = {"get": {
        "operationId": "tasks_wait",
        "summary": "Follow a task (long poll)",
        "description": "Answers when the task's version differs from `version`, or after `timeout` seconds. "
                       "Pass the version you got back next time.",
        "tags": ["tasks"],
        "parameters": [
            _TASK_ID,
            {"name": "version", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "timeout", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 60, "default": 25}},
        ],
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "responses": {"200": {"description": "The task, now.", "content": {"application/json": {"schema": {
            "type": "object", "required": ["version", "changed", "task"],
            "properties": {"version": {"type": "string"}, "changed": {"type": "boolean"},
                           "task": {**task_ref, "nullable": True}}}}}},
            "400": {"description": "`timeout` is not 1-60."}, **_ERRORS},
    }}
    return result


def _register_token_scheme() -> None:
    """Describe BearerTokenAuthentication as the OpenAPI `bearerAuth` scheme (imported by the app)."""
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    class BearerTokenScheme(OpenApiAuthenticationExtension):
        target_class = "dashboard.api.authentication.BearerTokenAuthentication"
        name = "bearerAuth"

        def get_security_definition(self, auto_schema):
            return {"type": "http", "scheme": "bearer",
                    "description": "A personal token from /accounts/tokens/: `Authorization: Bearer ldt_…`."}


_register_token_scheme()
