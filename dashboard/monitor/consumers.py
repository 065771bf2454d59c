"""Websocket consumers of the task monitor: one task's page (/ws/tasks/<id>/) and the task list
(/ws/tasks/)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied
from django.utils import translation

from dashboard.live.consumers import LiveConsumer
from dashboard.live.contract import TASK_UPDATE, TASKS_GROUP, task_group
from dashboard.live.fragments import render_outcome, render_status
from dashboard.live.store import load_view
from dashboard.monitor.access import ensure_task_visible
from dashboard.monitor.listing import list_filters, list_queryset, render_new_tasks_bar, task_rows_snapshot
from dashboard.monitor.preferences import page_size_of


class TaskConsumer(LiveConsumer):
    """One task: staff, or the member who launched it."""

    message_types = LiveConsumer.message_types | {TASK_UPDATE}

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
    message_types = LiveConsumer.message_types | {TASK_UPDATE}

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
        # The snapshot is this watcher's first page: as many rows as their page shows.
        self._page_size = await database_sync_to_async(page_size_of)(self.scope["user"])

    @database_sync_to_async
    def _matches(self, task_id: str) -> bool:
        return self._rows is not None and self._rows.filter(task_id=task_id).exists()

    async def snapshot(self) -> str:
        html, shown = await database_sync_to_async(task_rows_snapshot)(self.query, self._page_size)
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
                with translation.override(self.language):  # the fan-out's task is not this consumer's context
                    html = render_new_tasks_bar(len(self._new), self.query)
                await self.send(text_data=html)
