"""LiveTask: the base class of every Celery task in the project (site_config/celery.py task_cls).

Any task reports progress with one call, and every state change reaches watchers without the task
doing anything:

    @shared_task(bind=True)
    def rebuild_index_task(self, batch_id):
        for i, item in enumerate(items, 1):
            ...
            self.report_progress(i, len(items), f"indexed {item}")

Each report that passes the throttle is stored (the TaskResult row shows state PROGRESS with
{"current", "total", "message"}) and pushed over the channel layer to the task's page and the task
list. Started, retry, success, failure and revoked are pushed from the hooks below, in one place.

To record who started a task, queue it with `delay_for(user, ...)` / `delay_for_on_commit(user, ...)`.
"""

from __future__ import annotations

import threading
from time import monotonic

from celery import states
from celery.contrib.django.task import DjangoTask
from celery.exceptions import Ignore, SoftTimeLimitExceeded
from django.conf import settings
from django_celery_results.models import TaskResult

from dashboard.live.cancel import cancel_forget, cancel_requested_by
from dashboard.live.publish import publish_view
from dashboard.live.publisher import publisher
from dashboard.live.store import (
    load_view,
    mark_unqueued,
    record_event,
    record_runtime,
    terminate_reason,
    was_revoked_from_dashboard,
)
from dashboard.live.throttle import ProgressThrottle
from site_config.machinery.stored_texts import stored_text

# Progress state of the task execution running in this thread (one at a time per thread in every
# Celery pool), kept off the request object so the hot path of report_progress is two lookups.
_execution = threading.local()


class TaskCancelled(Exception):
    """Raised by report_progress when the person who started the task (or staff) cancelled it.

    A task that writes partial output catches it as `self.Cancelled` (no import needed, so the blog
    need not import the dashboard), removes what it wrote, and re-raises; the task then ends REVOKED
    with "cancelled by <user>" (LiveTask.__call__). `args[0]` is who cancelled it."""

    @property
    def cancelled_by(self) -> str:
        return str(self.args[0]) if self.args else "someone"


class LiveTask(DjangoTask):
    #: Tasks that must not be run again with the same arguments set this to False (dashboard retry).
    retryable = True
    #: What people call the task ("Export of your data"), a lazy translation given as the task's
    #: `title` option; pages show it instead of the Python name (dashboard.live.state.task_title).
    title = None
    #: `except self.Cancelled:` in a task body: see TaskCancelled.
    Cancelled = TaskCancelled

    # --- queueing ---

    def apply_async(self, args=None, kwargs=None, task_id=None, **options):
        """Queue as usual; if the broker cannot be reached, the PENDING row written before publishing
        is marked FAILURE with the reason (and pushed), so the task is never silently "queued"
        forever. The error is re-raised for the caller to report."""
        from celery import uuid
        from kombu.exceptions import OperationalError

        task_id = task_id or uuid()
        try:
            return super().apply_async(args, kwargs, task_id=task_id, **options)
        except OperationalError as error:
            view = mark_unqueued(task_id, stored_text("reason.broker_unreachable", error=str(error)))
            if view is not None:
                publish_view(view)
            raise

    # --- queueing with the launching user ---

    def delay_for(self, user, *args, **kwargs):
        return self.apply_async(args, kwargs, headers=_launch_headers(user))

    def apply_async_for(self, user, args=None, kwargs=None, **options):
        """apply_async with options (queue, eta, countdown, task_id), recording `user` as delay_for does."""
        return self.apply_async(args, kwargs, headers=_launch_headers(user), **options)

    def delay_for_on_commit(self, user, *args, **kwargs) -> str:
        """Queue after the current transaction commits; returns the task id at once."""
        from celery import uuid

        task_id = uuid()
        self.apply_async_on_commit(args, kwargs, task_id=task_id, headers=_launch_headers(user))
        return task_id

    # --- progress ---

    def report_progress(self, current: int, total: int, message: str = "") -> bool:
        """Report `current` of `total` done. Cheap to call often; returns True when it went out."""
        throttle = getattr(_execution, "throttle", None)
        if throttle is None:
            throttle = self.progress_begin()
        elif monotonic() < throttle.next_at and not 0 < total <= current:
            return False  # the hot path, inlined: too soon and not the final report
        if not throttle.should_send(current, total, message):
            return False
        request = self.request
        if request.id:
            # Only here, where a report goes out (at most every PROGRESS_MIN_INTERVAL_MS, and the
            # final one): one Redis read, so a suppressed call costs what it did before cancel existed.
            cancelled_by = cancel_requested_by(request.id)
            if cancelled_by is not None:
                raise self.Cancelled(cancelled_by)
        if not request.called_directly and request.id:
            self.update_state(state="PROGRESS", meta={"current": current, "total": total, "message": message})
            view = getattr(_execution, "view", None)
            if view is None or view.task_id != request.id:
                view = load_view(request.id)
            if view is not None:
                _execution.view = view = view.with_progress(current, total, message)
                publish_view(view)
        return True

    def progress_begin(self) -> ProgressThrottle:
        """Start a fresh throttle for the execution running in this thread (called by before_start;
        call it yourself when driving report_progress outside a worker)."""
        _execution.throttle = ProgressThrottle(settings.PROGRESS_MIN_INTERVAL_MS / 1000)
        _execution.view = None
        return _execution.throttle

    # --- cancelled: REVOKED, not FAILURE ---

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except TaskCancelled as cancelled:
            request = self.request
            if request.called_directly or not request.id:
                raise
            self._end_cancelled(request.id, cancelled.cancelled_by)
            # Ignore: Celery stores nothing more (the REVOKED row stays) and acknowledges the message,
            # so a late-acknowledged task is not delivered again.
            raise Ignore() from None
        except SoftTimeLimitExceeded:
            # Terminated from the dashboard with SIGUSR1: Celery raises this inside the task, which
            # would otherwise end FAILURE over the REVOKED the dashboard stored. A real soft time
            # limit (no terminate recorded) still fails as usual.
            request = self.request
            reason = None if request.called_directly or not request.id else terminate_reason(request.id)
            if reason is None:
                raise
            self._end_revoked(request.id, reason)
            raise Ignore() from None

    def _end_cancelled(self, task_id: str, who: str) -> None:
        self._end_revoked(task_id, stored_text("reason.cancelled_by", user=who))
        cancel_forget(task_id)

    def _end_revoked(self, task_id: str, reason: str) -> None:
        self.backend.mark_as_revoked(task_id, reason, request=self.request)
        _execution.throttle = _execution.view = None
        record_event(task_id, "revoked", reason)
        _publish_final(task_id)

    # --- state changes, published from one place ---

    def before_start(self, task_id, args, kwargs):
        if was_revoked_from_dashboard(task_id):
            # Revoked while no worker was listening (revokes live in workers' memory): never run it,
            # and put back the REVOKED state that Celery's STARTED just overwrote.
            TaskResult.objects.filter(task_id=task_id).update(status=states.REVOKED)
            record_event(task_id, "ignored", stored_text("event.not_run_revoked"))
            raise Ignore()
        if _declared_lost(task_id):
            # Delivered again after it was declared lost (and, when safe, sent again as a new task):
            # running it now would run the work twice. Put back the state Celery's STARTED overwrote.
            TaskResult.objects.filter(task_id=task_id).update(status=states.FAILURE)
            record_event(task_id, "ignored", stored_text("event.not_run_lost"))
            raise Ignore()
        self.progress_begin()
        record_event(task_id, "started", stored_text("event.started_on",
                                                     worker=self.request.hostname or stored_text("event.a_worker")))
        view = load_view(task_id)  # STARTED is stored by Celery (task_track_started) just before this
        if view is not None:
            _execution.view = view
            publish_view(view)

    def after_return(self, status, retval, task_id, args, kwargs, einfo):
        # Called after the result backend stored the outcome (SUCCESS, FAILURE or RETRY).
        _execution.throttle = _execution.view = None
        record_event(task_id, *_outcome_event(status, retval, einfo))
        _publish_final(task_id)


def _publish_final(task_id: str) -> None:
    """A finished task's state to every watcher (and its runtime to the runtime sort), sent before
    the worker moves on: the flush waits for the publisher's queue to drain."""
    view = load_view(task_id)
    if view is None:
        return
    if view.runtime is not None:
        record_runtime(task_id, view.runtime)
    publish_view(view)
    publisher.flush(timeout=5.0)


def _declared_lost(task_id: str) -> bool:
    from dashboard.monitor.lost import was_declared_lost

    return was_declared_lost(task_id)


def _outcome_event(status, retval, einfo) -> tuple[str, str]:
    if status == states.RETRY:
        exc = getattr(einfo, "exception", None) if einfo else None
        reason = getattr(exc, "exc", None) or getattr(exc, "message", None) or exc
        when = getattr(exc, "when", None)
        countdown = f"; next try in {when} s" if isinstance(when, (int, float)) else (f"; next try at {when}" if when else "")
        return "retry", f"{reason!r}{countdown}"
    if status == states.FAILURE:
        return "failed", f"{type(retval).__name__}: {retval}"
    return ("succeeded", "") if status == states.SUCCESS else (status.lower(), "")


def _launch_headers(user) -> dict:
    user_id = getattr(user, "pk", user)
    return {"launched_by": user_id} if user_id else {}
