"""Websocket consumer of the schedules page (/ws/schedules/)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied

from dashboard.live.consumers import LiveConsumer
from dashboard.live.contract import SCHEDULE_UPDATE, SCHEDULES_GROUP
from dashboard.schedules.live import render_run_cells
from dashboard.schedules.services import schedule_rows


def render_snapshot() -> str:
    """Every schedule's run cells, as they are in the database now."""
    return "".join(render_run_cells(row) for row in schedule_rows())


class SchedulesConsumer(LiveConsumer):
    """Staff only. Snapshot: every schedule's run cells; then each run as beat sends it and as it ends."""

    groups_to_join = [SCHEDULES_GROUP]
    message_types = LiveConsumer.message_types | {SCHEDULE_UPDATE}

    async def authorize(self) -> None:
        if not self._staff:
            raise PermissionDenied

    async def snapshot(self) -> str:
        return await database_sync_to_async(render_snapshot)()

    async def schedule_update(self, event: dict) -> None:
        await self.send(text_data=event["html"])
