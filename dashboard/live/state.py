"""TaskView: one task's state as pages and pushed fragments show it.

Built from the stored row (django-celery-results' TaskResult plus our TaskLaunch) for pages and
snapshots, or updated in memory by progress reports, so that a progress push costs no query.

A view holds the stored forms of its texts (`message_stored`, `error_stored`: see
site_config.machinery.stored_texts) and of its name; `message`, `error` and `title` put them into
words in the language active when they are read, so one view serves a render in every language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from celery import current_app, states
from django.utils.translation import pgettext_lazy

from site_config.machinery.stored_texts import shown, stored_text

FINAL_STATES = frozenset(states.READY_STATES)  # SUCCESS, FAILURE, REVOKED

STATE_LABELS = {
    states.PENDING: pgettext_lazy("task state", "Queued"),
    states.RECEIVED: pgettext_lazy("task state", "Received"),
    states.STARTED: pgettext_lazy("task state", "Running"),
    "PROGRESS": pgettext_lazy("task state", "Running"),
    states.RETRY: pgettext_lazy("task state", "Waiting to retry"),
    states.SUCCESS: pgettext_lazy("task state", "Succeeded"),
    states.FAILURE: pgettext_lazy("task state", "Failed"),
    states.REVOKED: pgettext_lazy("task state", "Revoked"),
}


@dataclass(frozen=True)
class TaskView:
    task_id: str
    name: str
    state: str
    current: int | None = None
    total: int | None = None
    message_stored: str = ""
    result: str = ""
    error_stored: str = ""
    traceback: str = ""
    launched_by: str = ""
    launched_by_id: int | None = None
    created: datetime | None = None
    started: datetime | None = None
    done: datetime | None = None
    # The task list's optional columns: always rendered (hidden by CSS unless chosen), so that one
    # pushed row serves every watcher whatever columns each one picked.
    worker: str = ""
    args: str = ""
    retries: int = 0
    eta: datetime | None = None
    expires: datetime | None = None

    @property
    def label(self) -> str:
        return STATE_LABELS.get(self.state, self.state.title())

    @property
    def message(self) -> str:
        return shown(self.message_stored)

    @property
    def error(self) -> str:
        return shown(self.error_stored)

    @property
    def title(self) -> str:
        """The task's human title in the active language, else its Python name (see task_title)."""
        return task_title(self.name)

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def percent(self) -> int | None:
        if self.state == states.SUCCESS:
            return 100
        if not self.total or self.current is None:
            return None
        return max(0, min(100, int(self.current * 100 / self.total)))

    @property
    def runtime(self) -> float | None:
        if self.started and self.done and self.is_final:
            return (self.done - self.started).total_seconds()
        return None

    @property
    def state_class(self) -> str:
        return {
            states.SUCCESS: "ok",
            states.FAILURE: "bad",
            states.REVOKED: "bad",
            states.RETRY: "warn",
        }.get(self.state, "busy" if self.state in (states.STARTED, "PROGRESS") else "idle")

    @property
    def offers_download(self) -> bool:
        """The task writes a file for its launcher (it declares `offers_download`): its page fetches
        the download panel once it ends."""
        return getattr(current_app.tasks.get(self.name), "offers_download", False)

    def with_progress(self, current: int, total: int, message: str) -> TaskView:
        return replace(self, state="PROGRESS", current=current, total=total, message_stored=message)

    @classmethod
    def from_row(cls, row, launch=None) -> TaskView:
        """Build from a TaskResult (or None for a task id with no row yet)."""
        launched_by, launched_by_id = "", None
        if launch is not None and launch.launched_by_id:
            launched_by, launched_by_id = launch.launched_by.get_username(), launch.launched_by_id
        payload = _decode(row.result)
        current = total = None
        message = result = error = ""
        if row.status == "PROGRESS" and isinstance(payload, dict):
            current, total = payload.get("current"), payload.get("total")
            message = str(payload.get("message") or "")
        elif row.status in (states.FAILURE, states.RETRY) and isinstance(payload, dict):
            error = stored_text("error.failed", type=str(payload.get("exc_type", "Error")),
                                message=_exc_message(payload.get("exc_message")))
        elif row.status == states.REVOKED and isinstance(payload, dict) and payload.get("purged_by"):
            error = stored_text("error.revoked", reason=_exc_message(payload.get("exc_message")))  # purged by alice ...
        elif row.status == states.REVOKED:
            # A cancelled task stores why (TaskRevokedError(<"cancelled by bob">)); a dashboard revoke
            # leaves whatever the row held before.
            reason = _exc_message(payload.get("exc_message")) if isinstance(payload, dict) and \
                payload.get("exc_type") == "TaskRevokedError" else ""
            error = stored_text("error.revoked", reason=reason) if reason else stored_text("error.revoked_unknown")
        elif row.status == states.SUCCESS and payload is not None:
            result = json.dumps(payload, indent=2, sort_keys=True) if not isinstance(payload, str) else payload
        return cls(
            task_id=row.task_id,
            name=row.task_name or "",
            state=row.status,
            current=current,
            total=total,
            message_stored=message,
            result=result,
            error_stored=error,
            traceback=row.traceback or "",
            launched_by=launched_by,
            launched_by_id=launched_by_id,
            created=row.date_created,
            started=row.date_started,
            done=row.date_done,
            worker=row.worker or "",
            args=_call_text(row.task_args, row.task_kwargs),
            retries=launch.retries if launch is not None else 0,
            eta=launch.eta if launch is not None else None,
            expires=launch.expires if launch is not None else None,
        )


def _decode(raw: str | None):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def _call_text(args: str | None, kwargs: str | None) -> str:
    """The call's arguments as Celery recorded them (reprs stored as JSON strings): "(1, 2) {'a': 3}"."""
    parts = []
    for raw in (args, kwargs):
        value = _decode(raw)
        if value not in (None, "", "()", "{}", [], {}):
            parts.append(value if isinstance(value, str) else json.dumps(value, default=str))
    return " ".join(parts)


def _exc_message(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value or "")


def task_title(name: str) -> str:
    """A task's human title (its `title` option, translated), or its Python name when it declares
    none (other packages' tasks) or is not known to this site."""
    title = getattr(current_app.tasks.get(name or ""), "title", None)
    return str(title) if title else name
