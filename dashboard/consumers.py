"""Websocket consumers for live task pages (/ws/tasks/ and /ws/tasks/<id>/).

Each consumer authorises in connect() before joining any group, then sends a snapshot read from
the database, so a page that (re)connects after a network drop or a Redis restart shows the truth.

Pushed messages are pre-rendered HTML (rendered once by the publisher, never per watcher). When the
process cannot keep up, intermediate updates of the same task are coalesced (site_config.fanout):
the newest state replaces an unsent older one; a final state is never dropped, as nothing newer
follows it.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import PermissionDenied
from django.http import Http404

from dashboard.access import can_view_all_tasks, ensure_task_visible
from dashboard.live.fragments import TASKS_GROUP, render_outcome, render_status, task_group
from dashboard.live.store import load_view
from dashboard.task_views import list_filters, list_queryset, render_new_tasks_bar, task_rows_snapshot
from site_config.fanout import fanout

# Close codes for refused connections (4000-4999 are for applications); a refusal before accept()
# also makes daphne answer the handshake with HTTP 403.
CLOSE_FORBIDDEN = 4403


class LiveConsumer(AsyncWebsocketConsumer):
    """Joins groups after `authorize()`, sends `snapshot()` first, then pushed updates.

    Group messages reach consumers through the process-local fan-out (site_config.fanout), which
    subscribes once per group per process and coalesces a task's intermediate updates when the
    process is behind. `deliver()` calls the handler named by the message type (`task.update` ->
    `task_update`), as Channels would. Messages that arrive while the snapshot is being sent are
    held and sent right after it (latest per key).
    """

    groups_to_join: list[str] = []

    async def connect(self) -> None:
        self._ready = False
        self._held: dict = {}
        self._joined: list[str] = []
        self._staff = can_view_all_tasks(self.scope.get("user"))
        try:
            await self.authorize()
        except (PermissionDenied, Http404):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        hub = fanout()
        for group in self.groups_to_join:
            await hub.join(group, self)
            self._joined.append(group)
        await self.accept()
        await self.send(text_data=await self.snapshot())
        self._ready = True
        held, self._held = self._held, {}
        for message in held.values():
            await self._dispatch_update(message)

    async def disconnect(self, code: int) -> None:
        self._ready = False
        hub = fanout()
        for group in getattr(self, "_joined", ()):
            await hub.leave(group, self)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Clients only listen; anything they send is ignored."""

    async def authorize(self) -> None:
        raise NotImplementedError

    async def snapshot(self) -> str:
        raise NotImplementedError

    async def deliver(self, message: dict) -> None:
        if not self._ready:
            self._held[message.get("key") or id(message)] = message
            return
        await self._dispatch_update(message)

    async def _dispatch_update(self, message: dict) -> None:
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is not None:
            await handler(message)

    async def task_update(self, event: dict) -> None:
        html = event.get("html_staff") if self._staff and "html_staff" in event else event["html"]
        await self.send(text_data=html)


class TaskConsumer(LiveConsumer):
    """One task: staff, or the member who launched it."""

    async def authorize(self) -> None:
        self.task_id = self.scope["url_route"]["kwargs"]["task_id"]
        self.groups_to_join = [task_group(self.task_id)]
        await database_sync_to_async(ensure_task_visible)(self.scope.get("user"), self.task_id)

    async def snapshot(self) -> str:
        return await database_sync_to_async(self._render_snapshot)()

    def _render_snapshot(self) -> str:
        view = load_view(self.task_id)  # visible: authorize() checked
        if view is None:
            return ""
        html = render_status(view)
        if view.is_final:
            html += render_outcome(view, staff=self._staff)
        return html


class TaskListConsumer(LiveConsumer):
    """The task list (staff only), filtered like the page it serves (the same query string).

    Rows on the page change in place. A task that newly matches the filter (queued, or reaching a
    final state the filter asks for) is not inserted, so nothing moves under the reader: it counts
    toward a "N new tasks" bar that reloads the first page when clicked.
    """

    groups_to_join = [TASKS_GROUP]

    async def authorize(self) -> None:
        if not self._staff:
            raise PermissionDenied
        self.query = self.scope.get("query_string", b"").decode("latin-1")[:2000]
        filters = list_filters(self.query)
        self._unfiltered = not filters
        # Only a state filter can start matching a task when it finishes; other filters decide
        # once, when the task is queued.
        self._matches_on_finish = "state" in filters
        self._shown: set[str] = set()
        self._new: set[str] = set()
        self._rows = None if self._unfiltered else await database_sync_to_async(list_queryset)(self.query)

    @database_sync_to_async
    def _matches(self, task_id: str) -> bool:
        return self._rows is not None and self._rows.filter(task_id=task_id).exists()

    async def snapshot(self) -> str:
        html, shown = await database_sync_to_async(task_rows_snapshot)(self.query)
        self._shown = set(shown)
        return html

    async def task_update(self, event: dict) -> None:
        task_id = event["task_id"]
        if task_id in self._shown:
            await self.send(text_data=event["html"])
        elif task_id not in self._new and (event.get("new") or (event.get("final") and self._matches_on_finish)):
            # An unfiltered list counts every new task without asking the database.
            if self._unfiltered or await self._matches(task_id):
                self._new.add(task_id)
                await self.send(text_data=render_new_tasks_bar(len(self._new), self.query))


class PolledConsumer(LiveConsumer):
    """Staff only; the snapshot and the updates come from one process-local poller (site_config.poller)
    that runs while anyone watches, so the expensive part runs once per interval, not per watcher."""

    poller_name = ""
    poll_interval = 5.0

    @staticmethod
    def produce_once() -> str:
        """The fragment for every watcher (sync; runs in a thread, never on the event loop)."""
        raise NotImplementedError

    def _poller(self):
        from site_config.poller import poller

        return poller(self.poller_name, type(self).produce_once, interval=self.poll_interval)

    async def authorize(self) -> None:
        if not self._staff:
            raise PermissionDenied

    async def snapshot(self) -> str:
        hub = self._poller()
        await hub.watch(self)
        self._watching = hub
        return await hub.current()

    async def disconnect(self, code: int) -> None:
        hub = getattr(self, "_watching", None)
        if hub is not None:
            await hub.unwatch(self)
        await super().disconnect(code)

    async def poll_update(self, event: dict) -> None:
        await self.send(text_data=event["html"])


class WorkersConsumer(PolledConsumer):
    """/ws/workers/: the workers and queues fragment, re-asked every WORKERS_POLL_INTERVAL."""

    poller_name = "workers"

    @property
    def poll_interval(self) -> float:
        from dashboard.workers import POLL_INTERVAL

        return POLL_INTERVAL

    @staticmethod
    def produce_once() -> str:
        from dashboard.workers_views import render_workers_fragment

        return render_workers_fragment()


class HomeChartsConsumer(PolledConsumer):
    """/ws/dashboard/charts/: the home page's task charts, re-rendered at most every ~10 s."""

    poller_name = "home-charts"

    @property
    def poll_interval(self) -> float:
        from dashboard.monitor_charts import CHARTS_INTERVAL

        return CHARTS_INTERVAL

    @staticmethod
    def produce_once() -> str:
        from dashboard.monitor_charts import render_home_charts

        return render_home_charts()


class ModerationConsumer(LiveConsumer):
    """The moderation queue (/ws/moderation/): staff only. Snapshot: the held queue's first page."""

    groups_to_join = ["moderation"]

    async def authorize(self) -> None:
        if not self._staff:
            raise PermissionDenied

    async def snapshot(self) -> str:
        from dashboard.moderation_views import render_rows_snapshot

        return await database_sync_to_async(render_rows_snapshot)()

    async def moderation_update(self, event: dict) -> None:
        # A row to append (newly held) or rows to remove (decided), rendered once by the sender.
        await self.send(text_data=event["html"])
