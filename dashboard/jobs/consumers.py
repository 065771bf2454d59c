"""The "My tasks" socket (/ws/my-tasks/): the rows of the tasks this user launched, and no others.

It joins only the user's own group (contract.user_tasks_group), to which publish_view sends a task's
row when the task has a launcher: another member's rows never reach this socket, by construction.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied

from dashboard.jobs.queries import my_task_views, render_my_rows, render_new_row
from dashboard.live.consumers import LiveConsumer
from dashboard.live.contract import TASK_UPDATE, user_tasks_group


class MyTasksConsumer(LiveConsumer):
    message_types = LiveConsumer.message_types | {TASK_UPDATE}

    async def authorize(self) -> None:
        user = self.scope.get("user")
        if not (user and user.is_authenticated and user.is_active):
            raise PermissionDenied
        self.groups_to_join = [user_tasks_group(user.pk)]
        self._shown: set[str] = set()

    async def snapshot(self) -> str:
        views = await database_sync_to_async(my_task_views)(self.scope["user"])
        self._shown = {view.task_id for view in views}
        return await database_sync_to_async(render_my_rows)(views)

    async def task_update(self, event: dict) -> None:
        task_id = event["task_id"]
        if task_id in self._shown:
            await self.send(text_data=event["html"])
        else:  # a new task of this user (its "queued" message may have been coalesced away)
            self._shown.add(task_id)
            await self.send(text_data=render_new_row(event["html"]))
