"""Periodic tasks (django-celery-beat): the default schedules from settings, schedules in words,
next-run times, and the changes staff make from the dashboard.

Beat runs with the DatabaseScheduler, so the PeriodicTask rows are the truth. Every change here is
saved through the model, whose save() bumps PeriodicTasks.changed: the running beat notices on its
next tick and reloads its schedule, no restart needed. Every change is kept in a ScheduleChange row.
"""

from __future__ import annotations

import json
import math
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from celery import current_app
from cron_descriptor import ExpressionDescriptor
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import get_language, gettext
from django_celery_beat.models import (
    SOLAR_SCHEDULES,
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from django_celery_results.models import TaskResult

from dashboard.live.state import TaskView
from dashboard.models import ScheduleChange
from site_config.machinery.request_context import HEADER as REQUEST_ID_HEADER
from site_config.machinery.stored_texts import TEXTS, shown, stored_text

ENTRY_KEYS = {"task", "crontab", "every_seconds", "kwargs", "args", "enabled", "description"}
SCHEDULE_MODELS = {
    "crontab": CrontabSchedule,
    "interval": IntervalSchedule,
    "solar": SolarSchedule,
    "clocked": ClockedSchedule,
}
SOLAR_EVENTS = dict(SOLAR_SCHEDULES)


# --- default schedules from settings.PERIODIC_TASKS ---


def periodic_tasks_sync(*, declared: dict[str, dict] | None = None) -> list[str]:
    """Create each declared schedule that is missing from the database; returns the names created.

    A schedule that exists is left exactly as it is, so a staff member's edit (or disabling it)
    survives every deploy. Renaming a key in settings therefore creates a new schedule.
    """
    declared = settings.PERIODIC_TASKS if declared is None else declared
    existing = set(PeriodicTask.objects.filter(name__in=list(declared)).values_list("name", flat=True))
    created = []
    for name, entry in declared.items():
        _check_entry(name, entry)
        if name in existing:
            continue
        with transaction.atomic():
            crontab, interval = _schedule_rows(crontab=entry.get("crontab"), every_seconds=entry.get("every_seconds"))
            _, was_created = PeriodicTask.objects.get_or_create(
                name=name,
                defaults={
                    "task": entry["task"],
                    "crontab": crontab,
                    "interval": interval,
                    "args": json.dumps(entry.get("args", [])),
                    "kwargs": json.dumps(entry.get("kwargs", {})),
                    "enabled": entry.get("enabled", True),
                    "description": entry.get("description", ""),
                },
            )
        if was_created:
            created.append(name)
    return created


def _check_entry(name: str, entry: dict) -> None:
    unknown = set(entry) - ENTRY_KEYS
    if unknown or "task" not in entry or ("crontab" in entry) == ("every_seconds" in entry):
        raise ImproperlyConfigured(
            f"PERIODIC_TASKS[{name!r}] needs 'task' and exactly one of 'crontab' or 'every_seconds'"
            + (f"; unknown keys: {sorted(unknown)}" if unknown else "")
        )
    if "crontab" in entry and len(entry["crontab"].split()) != 5:
        raise ImproperlyConfigured(f"PERIODIC_TASKS[{name!r}]['crontab'] must have 5 fields, like '5 0 * * *'.")


def _schedule_rows(*, crontab: str | None, every_seconds: int | None):
    """The CrontabSchedule or IntervalSchedule row for a schedule (shared rows, reused)."""
    if crontab:
        minute, hour, day_of_month, month_of_year, day_of_week = crontab.split()
        row, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone=settings.TIME_ZONE,
        )
        return row, None
    every, period = _interval_parts(int(every_seconds))
    row, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
    return None, row


def _interval_parts(seconds: int) -> tuple[int, str]:
    """Store 600 seconds as "10 minutes", so the admin shows what a person would write."""
    for size, period in ((86400, IntervalSchedule.DAYS), (3600, IntervalSchedule.HOURS), (60, IntervalSchedule.MINUTES)):
        if seconds >= size and seconds % size == 0:
            return seconds // size, period
    return seconds, IntervalSchedule.SECONDS


# --- schedules in words ---


def crontab_expression(crontab: CrontabSchedule) -> str:
    return " ".join([crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week])


# Each description is a stored text (site_config/machinery/stored_texts.py): the pages show it in the
# reader's language, and the audit notes that quote a schedule keep it in that form, so a note written
# while one person read English reads whole in Chinese later. One exception, for pages in English
# only: a crontab too unusual for the phrases below is put into words by cron_descriptor; in other
# languages (and in stored notes) it is shown as its expression.

def crontab_text(crontab: CrontabSchedule) -> str:
    """"every day at 00:05 Europe/Berlin", "every Monday at 09:00 UTC", "every 15 minutes"..., else
    the expression ("cron 30 2 * * 1-5 (UTC)")."""
    return _crontab_phrase(crontab) or stored_text("schedule.cron", expression=crontab_expression(crontab),
                                                   zone=str(crontab.timezone))


def _crontab_phrase(crontab: CrontabSchedule) -> str | None:
    minute, hour, dom, month, dow = crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week
    zone = str(crontab.timezone)
    calendar_free = dom == "*" and month == "*"
    if minute.isdigit() and hour.isdigit() and calendar_free:
        at = f"{int(hour):02d}:{int(minute):02d}"
        if dow == "*":
            return stored_text("schedule.every_day_at", time=at, zone=zone)
        if dow.isdigit() and 0 <= int(dow) <= 7:
            return stored_text("schedule.every_weekday_at", day=stored_text(f"weekday.{int(dow) % 7}"), time=at, zone=zone)
    if calendar_free and dow == "*" and hour == "*":
        if minute == "*":
            return stored_text("schedule.every_minute")
        if minute.startswith("*/") and minute[2:].isdigit():
            return stored_text("schedule.every_n_minutes", n=int(minute[2:]))
        if minute.isdigit():
            return stored_text("schedule.every_hour_at_minute", minute=int(minute))
    return None


def _crontab_in_english_words(crontab: CrontabSchedule) -> str:
    try:
        words = ExpressionDescriptor(crontab_expression(crontab), use_24hour_time_format=True).get_description()
    except Exception:  # cron_descriptor rejects some expressions celery accepts
        return f"cron {crontab_expression(crontab)} ({crontab.timezone})"
    return f"{words[:1].lower()}{words[1:]} ({crontab.timezone})"


def interval_text(interval: IntervalSchedule) -> str:
    """"every second", "every 10 minutes"."""
    if interval.every == 1 and interval.period != IntervalSchedule.MICROSECONDS:
        return stored_text(f"schedule.every_{interval.period.rstrip('s')}")
    return stored_text(f"schedule.every_n_{interval.period}", n=interval.every)


def solar_text(solar: SolarSchedule) -> str:
    """"every day at sunset at 52.52, 13.405"."""
    event = stored_text(f"solar.{solar.event}") if f"solar.{solar.event}" in TEXTS else solar.event
    return stored_text("schedule.solar", event=event, latitude=_degrees(solar.latitude), longitude=_degrees(solar.longitude))


def _degrees(value) -> str:
    return format(value.normalize(), "f")


def clocked_text(clocked: ClockedSchedule) -> str:
    """"once at 2026-12-24 18:00:00 CET", in the site's time zone."""
    return stored_text("schedule.once_at", when=timezone.localtime(clocked.clocked_time).strftime("%Y-%m-%d %H:%M:%S %Z"))


def schedule_kind(periodic_task: PeriodicTask) -> str | None:
    """"crontab", "interval", "solar" or "clocked": the one schedule row a periodic task points at."""
    for kind in SCHEDULE_MODELS:
        if getattr(periodic_task, f"{kind}_id"):
            return kind
    return None


def schedule_text(periodic_task: PeriodicTask) -> str:
    """The periodic task's schedule in words, as a stored text."""
    kind = schedule_kind(periodic_task)
    if kind is None:
        return stored_text("schedule.none")
    row = getattr(periodic_task, kind)
    return {"crontab": crontab_text, "interval": interval_text, "solar": solar_text, "clocked": clocked_text}[kind](row)


def describe_schedule(periodic_task: PeriodicTask) -> str:
    """The schedule in words in the active language."""
    crontab = periodic_task.crontab if periodic_task.crontab_id else None
    if crontab is not None and _crontab_phrase(crontab) is None and (get_language() or "en").startswith("en"):
        return _crontab_in_english_words(crontab)
    return shown(schedule_text(periodic_task))


# --- next run ---


def next_run_at(periodic_task: PeriodicTask, *, now: datetime | None = None) -> datetime | None:
    """When beat will next send this task (UTC), or None when it will not (disabled, one-off done).

    Uses the schedule's own arithmetic (celery's, as beat does), so a crontab at 02:30 Europe/Berlin
    runs once on the spring-forward day (at 03:30 CEST, the first moment after the gap) and once on
    the fall-back day (the first 02:30), and never twice.
    """
    if not periodic_task.enabled or (periodic_task.one_off and periodic_task.total_run_count):
        return None
    now = (now or timezone.now()).astimezone(UTC)
    # What beat itself uses (ModelEntry): the last run, else the moment the schedule last changed.
    last = periodic_task.last_run_at or periodic_task.date_changed or now
    try:
        schedule = periodic_task.schedule
    except Exception:
        return None
    if periodic_task.clocked_id:
        # A one-off at a set time: beat sends it at that time, or at once when that time has passed.
        return max(periodic_task.clocked.clocked_time.astimezone(UTC), now)
    if periodic_task.interval_id:
        every = schedule.run_every
        upcoming = last.astimezone(UTC) + every
        if upcoming < now:
            # Beat writes last_run_at back every few minutes only: roll on to the next slot after now.
            upcoming += every * math.ceil((now - upcoming) / every)
        return upcoming
    return schedule_next_run(schedule, last_run_at=last, now=now)


def schedule_next_run(schedule, *, last_run_at: datetime, now: datetime) -> datetime | None:
    """The next time a celery schedule (crontab: django-celery-beat's TzAwareCrontab) fires after
    `last_run_at`, as seen at `now`; an overdue schedule fires at its next slot after `now`."""
    tz = getattr(schedule, "tz", UTC)
    schedule.nowfun = lambda: now.astimezone(tz)
    try:
        remaining = schedule.remaining_estimate(last_run_at.astimezone(tz))
        if remaining < timedelta(0):
            remaining = schedule.remaining_estimate(now.astimezone(tz))
    except Exception:
        return None
    # Add to a UTC time: aware arithmetic in a local zone is wall-clock arithmetic and would be an
    # hour out across a daylight-saving change.
    return now.astimezone(UTC) + max(remaining, timedelta(0))


# --- the dashboard's list ---


@dataclass(frozen=True)
class ScheduleRow:
    periodic_task: PeriodicTask
    schedule_words: str
    next_run: datetime | None
    last_run: TaskView | None
    run_count: int


def schedule_rows(*, now: datetime | None = None) -> list[ScheduleRow]:
    """Every schedule's row in three queries, whatever the number of schedules."""
    newest = TaskResult.objects.filter(periodic_task_name=OuterRef("name")).order_by("-date_created", "-id")
    tasks = list(
        PeriodicTask.objects.select_related("crontab", "interval", "solar", "clocked")
        .annotate(last_result_id=Subquery(newest.values("id")[:1]))
        .order_by("name")
    )
    counts = _run_counts([pt.name for pt in tasks])
    lasts = TaskResult.objects.in_bulk([pt.last_result_id for pt in tasks if pt.last_result_id])
    return [_row(pt, now=now, counts=counts, last=lasts.get(pt.last_result_id)) for pt in tasks]


def schedule_row(periodic_task: PeriodicTask) -> ScheduleRow:
    last = TaskResult.objects.filter(periodic_task_name=periodic_task.name).order_by("-date_created", "-id").first()
    return _row(periodic_task, now=None, counts=_run_counts([periodic_task.name]), last=last)


def _run_counts(names: list[str]) -> dict[str, int]:
    # Runs are counted from the stored results (beat's own total_run_count is written back only
    # every few minutes, and "run now" does not touch it).
    rows = TaskResult.objects.filter(periodic_task_name__in=names).values("periodic_task_name").annotate(n=Count("id"))
    return {row["periodic_task_name"]: row["n"] for row in rows}


def _row(pt: PeriodicTask, *, now, counts, last: TaskResult | None) -> ScheduleRow:
    return ScheduleRow(
        periodic_task=pt,
        schedule_words=describe_schedule(pt),
        next_run=next_run_at(pt, now=now),
        last_run=TaskView.from_row(last) if last else None,
        run_count=counts.get(pt.name, 0),
    )


# --- changes from the dashboard, each one recorded ---


def _record(pt: PeriodicTask, action: str, summary: str, *, user) -> ScheduleChange:
    """Who changed which schedule, how, when (the name is kept: it outlives a deleted schedule)."""
    return ScheduleChange.objects.create(
        periodic_task=pt, periodic_task_name=pt.name, action=action, summary=summary, changed_by=user
    )


def schedule_set_enabled(*, periodic_task_id: int, enabled: bool, user) -> bool:
    """Enable or disable; returns False when it already was (nothing recorded twice)."""
    with transaction.atomic():
        pt = PeriodicTask.objects.select_for_update().filter(pk=periodic_task_id).first()
        if pt is None or pt.enabled == enabled:
            return False
        pt.enabled = enabled
        pt.save()  # bumps PeriodicTasks.changed: the running beat reloads
        _record(pt, ScheduleChange.Action.ENABLED if enabled else ScheduleChange.Action.DISABLED,
                stored_text("audit.enabled" if enabled else "audit.disabled"), user=user)
    return True


def schedule_update(*, periodic_task_id: int, user, kind: str, fields: dict) -> bool:
    """Point a periodic task at a schedule of `kind` ("crontab", "interval", "solar", "clocked")
    with exactly these model `fields`; returns False when that is what it already has.

    Schedule rows are shared (one crontab row may drive several tasks), so a row is never edited in
    place: the task keeps its own row when it already matches, else it is pointed at a matching row
    or a new one. The type changes only when `kind` names another type: callers pass the type the
    person chose, never a default. Clocked schedules are one-off (django-celery-beat runs them
    once); a task leaving a clocked schedule stops being one-off, or its new schedule would fire once.
    """
    if kind not in SCHEDULE_MODELS:
        raise ValueError(f"Unknown schedule type {kind!r}.")
    with transaction.atomic():
        pt = PeriodicTask.objects.select_for_update(of=("self",)).select_related(*SCHEDULE_MODELS).get(pk=periodic_task_id)
        before_kind, before = schedule_kind(pt), schedule_text(pt)
        current = getattr(pt, kind) if before_kind == kind else None
        row = _matching_schedule_row(kind, fields, current=current)
        if current is not None and row.pk == current.pk:
            return False
        for other in SCHEDULE_MODELS:
            setattr(pt, other, row if other == kind else None)
        note = "audit.schedule_changed"
        if kind == "clocked" and not pt.one_off:
            pt.one_off = True
            note = "audit.schedule_changed_now_one_off"
        elif before_kind == "clocked" and kind != "clocked" and pt.one_off:
            pt.one_off = False
            note = "audit.schedule_changed_no_longer_one_off"
        pt.save()  # bumps PeriodicTasks.changed: the running beat reloads
        _record(pt, ScheduleChange.Action.SCHEDULE, stored_text(note, before=before, after=schedule_text(pt)), user=user)
    return True


def _matching_schedule_row(kind: str, fields: dict, *, current):
    """`current` when it already has these fields, else the oldest row that has them, else a new row."""
    if current is not None and all(_same_value(getattr(current, key), value) for key, value in fields.items()):
        return current
    model = SCHEDULE_MODELS[kind]
    return model.objects.filter(**fields).order_by("pk").first() or model.objects.create(**fields)


def _same_value(stored, submitted) -> bool:
    if isinstance(stored, datetime):
        # Forms carry whole seconds: a stored time with microseconds is still "unchanged".
        return stored.replace(microsecond=0) == submitted.replace(microsecond=0)
    if isinstance(stored, zoneinfo.ZoneInfo):
        return str(stored) == str(submitted)
    return stored == submitted


class UnknownTask(LookupError):
    """The periodic task names a Celery task this site does not have."""


def schedule_run_now(*, periodic_task_id: int, user) -> str:
    """Queue one run of the periodic task now, outside its schedule; returns the task id.

    The run carries the periodic task's name, so it shows as that schedule's last run.
    """
    pt = PeriodicTask.objects.get(pk=periodic_task_id)
    task = current_app.tasks.get(pt.task)
    if task is None:
        # A web process has imported only the task modules its views use; load every app's tasks.py.
        current_app.loader.import_default_modules()
        task = current_app.tasks.get(pt.task)
    if task is None:
        raise UnknownTask(gettext("No task named %(name)r is registered.") % {"name": pt.task})
    args, kwargs = json.loads(pt.args or "[]"), json.loads(pt.kwargs or "{}")
    _check_arguments(pt.task, args, kwargs)
    # The same routing beat would use (ModelEntry): queue, exchange, routing key, priority.
    routing = {key: getattr(pt, key) for key in ("queue", "exchange", "routing_key", "priority") if getattr(pt, key) is not None}
    result = task.apply_async(
        args,
        kwargs,
        headers={"launched_by": user.pk, "periodic_task_name": pt.name},
        **routing,
    )
    _record(pt, ScheduleChange.Action.RUN_NOW, stored_text("audit.queued_task", task_id=result.id), user=user)
    return result.id


def sync_after_migrate(sender, **kwargs) -> None:
    """post_migrate handler (dashboard/apps.py): the release step and `make run` migrate at start."""
    created = periodic_tasks_sync()
    if created and kwargs.get("verbosity", 1) >= 1:
        print(f"  Created periodic tasks: {', '.join(created)}")


# --- creating, duplicating, deleting, and enabling many at once ---


#: Message header keys that say who launched a task, what it was given, which task row it is and
#: where it sits in a workflow. Celery lets a schedule's `headers` overwrite them (and
#: dashboard/live/signals.py records the launch from them), so only server code may set them: a
#: schedule never stores them (`schedule_headers_strip`, on every save, and the admin refuses them).
RESERVED_HEADERS = frozenset({
    "launched_by", "argsrepr", "kwargsrepr", "id", "task", "root_id", "parent_id", "group", "group_index",
    "retries", "retry_of", "eta", "expires", "timelimit", "origin", "lang", "shadow", "ignore_result",
    "periodic_task_name", "stamped_headers", "stamps", "replaced_task_nesting", "correlation_id", "reply_to",
    REQUEST_ID_HEADER,  # ties a task's log lines to the request that queued it: never forged by a schedule
})


def schedule_headers_strip(headers: str | None) -> str:
    """`headers` (a PeriodicTask's JSON) without the reserved keys; anything but an object is "{}"."""
    try:
        value = json.loads(headers or "{}")
    except ValueError:
        return "{}"
    if not isinstance(value, dict):
        return "{}"
    return json.dumps({key: item for key, item in value.items() if key not in RESERVED_HEADERS})


def periodic_task_headers_strip(sender, instance, **kwargs) -> None:
    """pre_save of PeriodicTask (dashboard/apps.py): whatever saves a schedule (the dashboard, the
    admin, a shell, a migration's sync), its headers never carry launch metadata."""
    instance.headers = schedule_headers_strip(instance.headers)


class ScheduleRefused(Exception):
    """The change cannot be made to this schedule; the message says why, for the person who asked."""


def _check_arguments(task: str, args, kwargs) -> None:
    """The run form's rule for what a task may be given (dashboard/workers/launch.py)."""
    from dashboard.workers.launch import ArgumentsRefused, task_arguments_check

    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ScheduleRefused(gettext("The schedule's arguments must be a JSON list and a JSON object."))
    try:
        task_arguments_check(name=task, args=args, kwargs=kwargs)
    except ArgumentsRefused as refusal:
        raise ScheduleRefused(gettext("The schedule's arguments are refused: %(refusal)s") % {"refusal": refusal}) from None


def schedule_is_declared(name: str) -> bool:
    """Declared in settings.PERIODIC_TASKS: every migrate creates it again when it is missing, so it
    may be disabled but not deleted."""
    return name in settings.PERIODIC_TASKS


def project_task_names() -> list[str]:
    """The tasks a schedule may run: this project's registered tasks (Celery's own are not offered)."""
    current_app.loader.import_default_modules()
    return sorted(name for name in current_app.tasks if not name.startswith("celery."))


def schedule_create(*, user, name: str, task: str, kind: str, fields: dict, args: list | None = None,
                    kwargs: dict | None = None, queue: str = "", enabled: bool = True,
                    description: str = "") -> PeriodicTask:
    """A new periodic task on a schedule of `kind` with these model `fields` (a matching schedule row
    is reused); recorded. Clocked schedules are one-off, as on the edit page. The name must be free."""
    if kind not in SCHEDULE_MODELS:
        raise ValueError(f"Unknown schedule type {kind!r}.")
    _check_arguments(task, args or [], kwargs or {})
    with transaction.atomic():
        if PeriodicTask.objects.filter(name=name).exists():
            raise ScheduleRefused(gettext("A schedule named %(name)r already exists.") % {"name": name})
        pt = PeriodicTask(name=name, task=task, args=json.dumps(args or []), kwargs=json.dumps(kwargs or {}),
                          queue=queue or None, enabled=enabled, description=description, one_off=kind == "clocked")
        setattr(pt, kind, _matching_schedule_row(kind, fields, current=None))
        pt.save()  # bumps PeriodicTasks.changed: the running beat loads it
        _record(pt, ScheduleChange.Action.CREATED, stored_text("audit.task_schedule" if enabled else "audit.task_schedule_disabled",
                                                               task=task, schedule=schedule_text(pt)), user=user)
    return pt


#: Fields of a periodic task that its copy keeps (its runs, run count and change times are its own).
COPIED_FIELDS = ("task", "args", "kwargs", "queue", "exchange", "routing_key", "headers", "priority", "expires",
                 "expire_seconds", "one_off", "start_time", "description", *(f"{kind}_id" for kind in SCHEDULE_MODELS))


def copy_name(name: str, taken: set[str], *, max_length: int = 200) -> str:
    """"<name> (copy)", else "<name> (copy 2)", "(copy 3)"...: the first one not in `taken`,
    the original shortened when the suffix would not fit in the column."""
    number = 1
    while True:
        suffix = " (copy)" if number == 1 else f" (copy {number})"
        candidate = name[: max_length - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        number += 1


def schedule_duplicate(*, periodic_task_id: int, user) -> PeriodicTask:
    """A copy of the periodic task under a unique name, disabled (so the job does not suddenly run
    twice; enable it once it is changed); recorded on the copy."""
    original = PeriodicTask.objects.get(pk=periodic_task_id)
    _check_arguments(original.task, json.loads(original.args or "[]"), json.loads(original.kwargs or "{}"))
    for _ in range(5):  # two people copying at once: the unique name decides, the loser takes the next
        taken = set(PeriodicTask.objects.filter(name__startswith=original.name[:150]).values_list("name", flat=True))
        copy = PeriodicTask(name=copy_name(original.name, taken), enabled=False,
                            **{field: getattr(original, field) for field in COPIED_FIELDS})
        try:
            with transaction.atomic():
                copy.save()
                _record(copy, ScheduleChange.Action.DUPLICATED, stored_text("audit.copy_of", name=original.name), user=user)
            return copy
        except (IntegrityError, ValidationError):  # PeriodicTask.save() checks the name first
            continue
    raise ScheduleRefused(gettext("Could not find a free name for the copy; try again."))


def schedule_delete(*, periodic_task_id: int, user) -> str:
    """Delete a periodic task made in the dashboard or the admin; returns its name. A schedule
    declared in settings is refused: the next migrate would create it again (disable it instead).
    The record keeps the name; the deletion bumps beat's change marker (django-celery-beat's signal)."""
    with transaction.atomic():
        pt = PeriodicTask.objects.select_for_update().filter(pk=periodic_task_id).first()
        if pt is None:
            raise ScheduleRefused(gettext("No such schedule (already deleted?)."))
        if schedule_is_declared(pt.name):
            raise ScheduleRefused(gettext(
                "%(name)s is declared in settings.PERIODIC_TASKS: deleted, it would come back at the next migrate. "
                "Disable it instead.") % {"name": pt.name})
        _record(pt, ScheduleChange.Action.DELETED, stored_text("audit.task_schedule", task=pt.task, schedule=schedule_text(pt)), user=user)
        name = pt.name
        pt.delete()
    return name


def schedules_set_enabled(*, periodic_task_ids: list[int], enabled: bool, user) -> list[int]:
    """Enable or disable many; each change recorded as one would be. Returns the ids that changed."""
    return [pk for pk in periodic_task_ids if schedule_set_enabled(periodic_task_id=pk, enabled=enabled, user=user)]
