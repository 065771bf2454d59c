"""Running a project task with arguments chosen by a person: one power, one check.

The run form, `POST /api/tasks/`, creating or duplicating a schedule and the beat admin all need
`dashboard.run_task` and call `task_arguments_check`: the arguments must bind to the task's
signature, and each one given must be declared in the task's `launch_arguments` (a Celery task
option: `{"steps": {"type": "int", "min": 1, "max": lambda: settings.DEMO_JOB_MAX_STEPS}}`, a bound
may be a function, read at each check) and lie within its bounds. A task that declares nothing takes no arguments from outside:
the maintenance tasks run with their settings, and the parameters that exist for tests and
benchmarks are never offered. Celery's own tasks (`celery.*`) are never offered at all.
"""

from __future__ import annotations

import inspect
from datetime import date, datetime

from django.conf import settings
from django.utils.translation import gettext, gettext_lazy

from dashboard.models import ControlAction
from site_config.celery import app


def project_task_names() -> list[str]:
    """The project's registered task names, sorted (the same list tests/test_structure.py pins)."""
    app.loader.import_default_modules()  # autodiscovery: every app's tasks.py is imported
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def task_signatures() -> list[tuple[str, str, str]]:
    """(name, "(steps, delay_ms, ...)", what it accepts from outside) for each project task, shown
    beside the run form and by the API."""
    return [(name, str(inspect.signature(app.tasks[name].run)), describe_launch_arguments(name))
            for name in project_task_names()]


def queue_names() -> list[str]:
    """The queues declared in settings, which a worker started without -Q consumes."""
    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


class ArgumentsRefused(ValueError):
    """The arguments may not be given to this task; `field` is "args", "kwargs" or "task"."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


TYPES = {"int": gettext_lazy("a whole number"), "date": gettext_lazy("a date (YYYY-MM-DD)")}


def launch_arguments(name: str) -> dict[str, dict]:
    """The arguments task `name` accepts from outside, with their bounds (empty: none)."""
    return dict(getattr(app.tasks[name], "launch_arguments", None) or {})


def _bound(value):
    return value() if callable(value) else value


def describe_launch_arguments(name: str) -> str:
    """"steps: a whole number from 1 to 1000; ..." as the run form and the errors say it."""
    rules = launch_arguments(name)
    if not rules:
        return gettext("takes no arguments from outside")
    parts = []
    for argument, rule in rules.items():
        low, high = _bound(rule.get("min")), _bound(rule.get("max"))
        words = {"argument": argument, "type": TYPES[rule["type"]], "low": low, "high": high}
        if low is not None and high is not None:
            text = gettext("%(argument)s: %(type)s from %(low)s to %(high)s") % words
        elif low is not None:
            text = gettext("%(argument)s: %(type)s, at least %(low)s") % words
        else:
            text = gettext("%(argument)s: %(type)s") % words
        if rule.get("null"):
            text = gettext("%(rule)s, or null") % {"rule": text}
        parts.append(text)
    return "; ".join(parts)


def _argument_problem(rule: dict, value) -> str | None:
    if value is None:
        return None if rule.get("null") else gettext("must be given (not null)")
    if rule["type"] == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return gettext("must be a whole number")
        low, high = _bound(rule.get("min")), _bound(rule.get("max"))
        if low is not None and value < low:
            return gettext("must be at least %(low)s") % {"low": low}
        if high is not None and value > high:
            return gettext("must be at most %(high)s") % {"high": high}
        return None
    if rule["type"] == "date":
        try:
            date.fromisoformat(value) if isinstance(value, str) else date.fromisoformat("")
        except ValueError:
            return gettext("must be a date as YYYY-MM-DD")
        return None
    raise ValueError(f"unknown argument type {rule['type']!r}")


def task_arguments_check(*, name: str, args: list, kwargs: dict) -> None:
    """Raise ArgumentsRefused (its message says what is wrong) unless task `name` is a project
    task that accepts exactly these arguments from outside, within their declared bounds."""
    if name not in project_task_names():
        raise ArgumentsRefused(gettext("%(name)s is not one of this project's tasks.") % {"name": name}, field="task")
    task = app.tasks[name]
    field = "args" if args else "kwargs"
    try:
        bound = inspect.signature(task.run).bind(*args, **kwargs)
    except TypeError as error:
        raise ArgumentsRefused(gettext("%(name)s does not take these arguments: %(error)s.") % {"name": name, "error": error},
                               field=field) from None
    rules = launch_arguments(name)
    for argument, value in bound.arguments.items():
        rule = rules.get(argument)
        if rule is None:
            raise ArgumentsRefused(gettext("%(argument)s cannot be given to %(name)s from outside (%(name)s %(rules)s).") % {
                "argument": argument, "name": name, "rules": describe_launch_arguments(name)}, field=field)
        problem = _argument_problem(rule, value)
        if problem:
            raise ArgumentsRefused(gettext("%(argument)s %(problem)s (%(name)s %(rules)s).") % {
                "argument": argument, "problem": problem, "name": name, "rules": describe_launch_arguments(name)}, field=field)


def task_run(*, user, name: str, args: list, kwargs: dict, queue: str = "", eta: datetime | None = None,
             countdown: float | None = None) -> str:
    """Queue the task as `user` (TaskLaunch records them, as delay_for does); return its id.

    Callers have checked `dashboard.run_task` and `task_arguments_check`; the check runs again here
    so no path can skip it.

    The audit row is written first, so a send that fails (broker down) is still on record, and the
    task's own row says why it failed.
    """
    from celery import uuid

    task_arguments_check(name=name, args=args, kwargs=kwargs)
    task = app.tasks[name]
    task_id = uuid()
    options = {"queue": queue} if queue else {}
    if eta is not None:
        options["eta"] = eta
    elif countdown is not None:
        options["countdown"] = countdown
    ControlAction.objects.create(
        kind=ControlAction.Kind.RUN_TASK, user=user,
        arguments={"task": name, "args": args, "kwargs": kwargs, "queue": queue,
                   "eta": eta.isoformat() if eta else None, "countdown": countdown},
        replies={"task_id": task_id},
    )
    task.apply_async_for(user, args, kwargs, task_id=task_id, **options)
    return task_id
