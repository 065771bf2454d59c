"""The request id: one id per web request, carried into every task that request queues.

A web request gets a fresh id (answered in its `X-Request-ID` header); every log line written while
it is handled carries it (site_config.machinery.logging_filters). A task queued meanwhile carries it
in its message as the Celery header `request_id` (a header the schedules' rules reserve, so a beat
schedule cannot set it), the worker restores it while the task runs, and the tasks that task queues
carry it on: one id ties a click to every log line it caused, on whichever host.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from celery.signals import before_task_publish, task_postrun, task_prerun

#: The Celery message header that carries the id (reserved: schedules may not set it).
HEADER = "request_id"
RESPONSE_HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_new() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in the stack: gives the request its id for everything below it (sync or async)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        token = current_request_id.set(request_id_new())
        try:
            request.request_id = current_request_id.get()
            response = self.get_response(request)
            response[RESPONSE_HEADER] = request.request_id
            return response
        finally:
            current_request_id.reset(token)

    async def __acall__(self, request):
        token = current_request_id.set(request_id_new())
        try:
            request.request_id = current_request_id.get()
            response = await self.get_response(request)
            response[RESPONSE_HEADER] = request.request_id
            return response
        finally:
            current_request_id.reset(token)


@before_task_publish.connect(dispatch_uid="site_config.request_id.publish")
def _carry_request_id(headers=None, **kwargs) -> None:
    request_id = current_request_id.get()
    if request_id and headers is not None:
        headers[HEADER] = request_id


_task_tokens: dict[str, object] = {}


@task_prerun.connect(dispatch_uid="site_config.request_id.prerun")
def _restore_request_id(task_id=None, task=None, **kwargs) -> None:
    value = getattr(getattr(task, "request", None), HEADER, None)
    if isinstance(value, str) and _VALID.match(value):
        _task_tokens[task_id] = current_request_id.set(value)


@task_postrun.connect(dispatch_uid="site_config.request_id.postrun")
def _forget_request_id(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            current_request_id.reset(token)
        except ValueError:  # set in another context (a thread pool): clearing is enough
            current_request_id.set(None)
