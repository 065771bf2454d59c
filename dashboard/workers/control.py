"""Worker control from the workers page: the commands, who may send each, and sending them (audited).

Every command is Celery's own remote control (`app.control.broadcast`) sent to the workers chosen,
waiting `settings.WORKERS_CONTROL_TIMEOUT` for their replies; each is one `ControlAction` row (who,
when, what, the arguments, which workers, what they answered). The page shows the effect at its next
poll (dashboard.workers.services reads the pool size, queues, autoscaler and limits back from the
workers), so nothing here changes what the page believes: only the workers' answers count.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from dashboard import permissions
from dashboard.models import ControlAction
from site_config.celery import app
from site_config.machinery.stored_texts import shown, stored_text

Kind = ControlAction.Kind


@dataclass(frozen=True)
class Command:
    kind: str
    label: str
    permission: str
    #: What the confirmation page says will happen.
    explains: str
    #: The setting is the worker's memory only: a restarted worker starts from its configuration again.
    lost_on_restart: bool = False
    #: Needs a prefork pool (see services.pool_supports); others are refused before anything is sent.
    pool_command: bool = False
    #: Workers never answer it (shutdown exits before replying).
    replies: bool = True
    danger: bool = False


COMMANDS: dict[str, Command] = {command.kind: command for command in (
    Command(Kind.POOL_GROW, _("Grow the pool"), permissions.RESIZE_WORKER_POOL,
            _("Each chosen worker starts this many more pool processes, so it runs that many more tasks at once."),
            lost_on_restart=True, pool_command=True),
    Command(Kind.POOL_SHRINK, _("Shrink the pool"), permissions.RESIZE_WORKER_POOL,
            _("Each chosen worker stops this many pool processes once they finish their current task."),
            lost_on_restart=True, pool_command=True),
    Command(Kind.AUTOSCALE, _("Change autoscale"), permissions.AUTOSCALE_WORKERS,
            _("Each chosen worker keeps between min and max pool processes, adding them when tasks wait."),
            lost_on_restart=True, pool_command=True),
    Command(Kind.ADD_CONSUMER, _("Consume from a queue"), permissions.CHANGE_WORKER_QUEUES,
            _("Each chosen worker starts taking tasks from this queue too."), lost_on_restart=True),
    Command(Kind.CANCEL_CONSUMER, _("Stop consuming from a queue"), permissions.CHANGE_WORKER_QUEUES,
            _("Each chosen worker stops taking tasks from this queue; tasks sent to it wait for another worker."),
            lost_on_restart=True, danger=True),
    Command(Kind.RATE_LIMIT, _("Set a rate limit"), permissions.SET_TASK_RATE_LIMIT,
            _("Each chosen worker starts at most this many of the task per second, minute or hour "
            "(empty: no limit). It is per worker, not for all workers together."), lost_on_restart=True),
    Command(Kind.TIME_LIMIT, _("Set time limits"), permissions.SET_TASK_TIME_LIMIT,
            _("Tasks started after this get the soft limit (the task is told and may clean up) and the hard "
            "limit (its pool process is killed) in seconds; empty: no limit."), lost_on_restart=True),
    Command(Kind.POOL_RESTART, _("Restart the pool"), permissions.RESTART_WORKER_POOL,
            _("Each chosen worker replaces its pool processes with new ones (code changes in task modules are "
            "not reloaded); running tasks finish first."), pool_command=True, danger=True),
    Command(Kind.SHUTDOWN, _("Shut down"), permissions.SHUT_DOWN_WORKERS,
            _("Each chosen worker stops taking tasks, lets running ones finish, and exits (warm shutdown). "
            "It comes back only if a process manager starts it again."), replies=False, danger=True),
)}


def command_send(*, user, kind: str, destination: list[str], arguments: dict) -> ControlAction:
    """Send `kind` with `arguments` to the workers named in `destination`; record and return the row.

    The replies are kept as each worker gave them ({hostname: {"ok": ...}} or {"error": ...}); a worker
    that did not answer in time is recorded as {"error": <the stored text "no reply">}
    (site_config.machinery.stored_texts: shown in the reader's language).
    """
    command = COMMANDS[kind]
    replies: dict[str, dict] = {}
    if command.replies:
        try:
            answers = app.control.broadcast(kind, arguments=arguments, destination=destination, reply=True,
                                            timeout=settings.WORKERS_CONTROL_TIMEOUT)
        except Exception as error:  # the broker is unreachable: nothing was sent
            answers = []
            replies = {hostname: {"error": stored_text("control.not_sent", error=str(error))} for hostname in destination}
        for answer in answers or []:
            replies.update(answer)
        for hostname in destination:
            replies.setdefault(hostname, {"error": stored_text("control.no_reply")})
    else:
        app.control.broadcast(kind, arguments=arguments, destination=destination, reply=False)
    row = ControlAction.objects.create(kind=kind, user=user, arguments=arguments, destination=destination,
                                       replies=replies)
    # The next page load and the next poll ask the workers afresh instead of showing the old state.
    from dashboard.workers.services import SNAPSHOT_KEY

    cache.delete(SNAPSHOT_KEY)
    return row


def reply_summary(action: ControlAction) -> list[tuple[str, bool, str]]:
    """(hostname, ok, text) for each worker asked, for messages and the audit list."""
    rows = []
    for hostname in action.destination:
        reply = action.replies.get(hostname)
        if not isinstance(reply, dict):
            rows.append((hostname, True, shown(stored_text("control.sent_no_answer"))))
        elif "ok" in reply:
            rows.append((hostname, True, str(reply["ok"])))
        else:
            rows.append((hostname, False, shown(reply.get("error", reply))))
    return rows
