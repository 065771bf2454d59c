"""Texts the site stores and shows later (progress messages, timeline details, audit notes, lost-task
and revoke reasons), kept as an identifier with parameters and put into words when shown, in the
reader's language.

    stored_text("export.rows", written=1200, total=5000)
    -> '{"text": "export.rows", "params": {"written": 1200, "total": 5000}}'   (what the row holds)
    shown(that) -> "1,200 of 5,000 rows" (English) / "已寫入 1,200 列，共 5,000 列" (zh-Hant)

The stored form is a JSON object in a string, so it fits every text column and Celery's JSON-only
messages unchanged. A parameter may itself be a stored text (a reason inside "Revoked: ..."); it is
shown in the same language. Integers are shown with the language's grouping.

Rows written before a text had an identifier, and texts that are data rather than the site's words
(an exception's message, a worker's host name), are plain strings: `shown()` returns them as they
are. An identifier this version does not know (a row written by a newer release) is shown as its
identifier and parameters rather than failing the page.

One registry for every app (blog's tasks report progress too, and blog never imports the
dashboard): TEXTS below, each a lazy translation with named parameters.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.utils import translation
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

MARK = '{"text": '

TEXTS = {
    # progress messages (report_progress)
    "demo.step": _("step %(step)s of %(steps)s"),
    "cleanup.batch": _("batch %(done)s of %(total)s"),
    "emails.sent": _("%(done)s of %(total)s emails"),
    "announcement.batch": _("batch %(batch)s: %(done)s of %(total)s emails"),
    "image.decoded": _("image decoded"),
    "image.rendition": _("%(label)s made"),
    "export.rows": _("%(written)s of %(total)s rows"),
    "export.comments": _("%(written)s of %(total)s comments"),
    "export.saving": _("%(written)s rows written; saving"),
    # timeline details (TaskEvent.detail), revoke reasons and audit notes
    "event.queue": _("queue %(queue)s"),
    "event.received_by": _("by %(worker)s"),
    "event.started_on": _("on %(worker)s"),
    "event.a_worker": _("a worker"),
    "event.by": _("by %(user)s"),
    "event.by_with_signal": _("by %(user)s with %(signal)s"),
    "event.retried_as": _("as %(task_id)s by %(user)s"),
    "event.retried_automatically": _("as %(task_id)s, automatically: %(why)s"),
    "event.cancel_requested": _("requested by %(user)s; stops at its next progress report"),
    "event.terminated": _("terminated"),
    "event.expired": _("expired"),
    "event.revoked_before_run": _("revoked before it ran"),
    "event.not_run_revoked": _("revoked from the dashboard before it started: not run"),
    "event.not_run_lost": _("delivered again after it was declared lost: not run"),
    "reason.cancelled_by": _("cancelled by %(user)s"),
    "reason.cancelled_before_start": _("cancelled by %(user)s before it started"),
    "reason.terminated_by": _("terminated by %(user)s"),
    "reason.user_with_signal": _("%(user)s with %(signal)s"),
    "reason.purged_by": _("purged by %(user)s from queue %(queue)s"),
    "reason.sent_again": _("sent again automatically: %(why)s"),
    "reason.worker_lost": _("worker lost: %(worker)s stopped running it (no heartbeat has claimed it since %(since)s)"),
    "reason.its_worker": _("its worker"),
    "reason.worker_lost_short": _("worker lost"),
    "reason.message_lost": _("message lost: the broker restarted without it, so no worker will ever receive this task"),
    "reason.message_lost_short": _("message lost"),
    "reason.broker_unreachable": _("could not reach the broker: %(error)s"),
    "reason.deleted_user": _("a deleted user"),
    # worker control replies (ControlAction.replies)
    "control.no_reply": _("no reply"),
    "control.not_sent": _("not sent: %(error)s"),
    "control.sent_no_answer": _("sent (workers do not answer this command)"),
    # schedules in words (dashboard/schedules/services.py schedule_text), and their audit notes
    "schedule.none": _("no schedule"),
    "schedule.every_second": _("every second"),
    "schedule.every_minute": _("every minute"),
    "schedule.every_hour": _("every hour"),
    "schedule.every_day": _("every day"),
    "schedule.every_n_microseconds": _("every %(n)s microseconds"),
    "schedule.every_n_seconds": _("every %(n)s seconds"),
    "schedule.every_n_minutes": _("every %(n)s minutes"),
    "schedule.every_n_hours": _("every %(n)s hours"),
    "schedule.every_n_days": _("every %(n)s days"),
    "schedule.every_day_at": _("every day at %(time)s %(zone)s"),
    "schedule.every_weekday_at": _("every %(day)s at %(time)s %(zone)s"),
    "schedule.every_hour_at_minute": _("every hour at minute %(minute)s"),
    "schedule.cron": _("cron %(expression)s (%(zone)s)"),
    "schedule.solar": _("every day at %(event)s at %(latitude)s, %(longitude)s"),
    "schedule.once_at": _("once at %(when)s"),
    "weekday.0": _("Sunday"),
    "weekday.1": _("Monday"),
    "weekday.2": _("Tuesday"),
    "weekday.3": _("Wednesday"),
    "weekday.4": _("Thursday"),
    "weekday.5": _("Friday"),
    "weekday.6": _("Saturday"),
    "solar.dawn_astronomical": _("astronomical dawn"),
    "solar.dawn_civil": _("civil dawn"),
    "solar.dawn_nautical": _("nautical dawn"),
    "solar.dusk_astronomical": _("astronomical dusk"),
    "solar.dusk_civil": _("civil dusk"),
    "solar.dusk_nautical": _("nautical dusk"),
    "solar.solar_noon": _("solar noon"),
    "solar.sunrise": _("sunrise"),
    "solar.sunset": _("sunset"),
    "audit.enabled": _("enabled"),
    "audit.disabled": _("disabled"),
    "audit.schedule_changed": _("%(before)s → %(after)s"),
    "audit.schedule_changed_now_one_off": _("%(before)s → %(after)s; now one-off"),
    "audit.schedule_changed_no_longer_one_off": _("%(before)s → %(after)s; no longer one-off"),
    "audit.queued_task": _("queued task %(task_id)s"),
    "audit.task_schedule": _("%(task)s, %(schedule)s"),
    "audit.task_schedule_disabled": _("%(task)s, %(schedule)s, disabled"),
    "audit.copy_of": _("copy of %(name)s, disabled"),
    # what a task page says about how it ended
    "error.failed": _("%(type)s: %(message)s"),
    "error.revoked": _("Revoked: %(reason)s."),
    "error.revoked_unknown": _("Revoked: the task was cancelled before it finished."),
}


def stored_text(text_id: str, **params) -> str:
    """The stored form of text `text_id` with `params` (JSON values: strings, numbers, stored texts)."""
    if text_id not in TEXTS:
        raise KeyError(f"no stored text {text_id!r} (add it to site_config.machinery.stored_texts.TEXTS)")
    # A parameter that is itself a stored text is kept as an object, not as escaped JSON text.
    params = {name: json.loads(value) if is_stored_text(value) else value for name, value in params.items()}
    return json.dumps({"text": text_id, "params": params}, ensure_ascii=False, separators=(", ", ": "))


def is_stored_text(value) -> bool:
    return isinstance(value, str) and value.startswith(MARK)


def shown(value) -> str:
    """`value` in words in the active language: a stored text rendered, anything else as it is."""
    if not is_stored_text(value):
        return "" if value is None else str(value)
    try:
        data = json.loads(value)
    except ValueError:
        return value
    return _words(data) or value


def _words(data) -> str | None:
    try:
        text_id, params = data["text"], data.get("params") or {}
    except (KeyError, TypeError, AttributeError):
        return None
    template = TEXTS.get(text_id)
    words = {name: _param(param) for name, param in params.items()}
    if template is None:
        return " ".join([text_id, *(f"{name}={word}" for name, word in words.items())])
    try:
        return str(template) % words if words else str(template)
    except (KeyError, ValueError, TypeError):
        return str(template)


def _param(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return number_format(value, force_grouping=True)
    if isinstance(value, dict):
        return _words(value) or json.dumps(value)
    return shown(value)


def shown_in_default_language(value) -> str:
    """`shown(value)` in settings.LANGUAGE_CODE, whatever the request: for logs and tracebacks."""
    with translation.override(settings.LANGUAGE_CODE):
        return shown(value)
