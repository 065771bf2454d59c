"""Websocket consumer of the moderation queue (/ws/moderation/)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied

from dashboard.live.consumers import LiveConsumer
from dashboard.live.contract import MODERATION_GROUP, MODERATION_UPDATE
from dashboard.moderation.queue import render_rows_snapshot


class ModerationConsumer(LiveConsumer):
    """The moderation queue (/ws/moderation/): staff only. Snapshot: the held queue's first page."""

    groups_to_join = [MODERATION_GROUP]
    message_types = LiveConsumer.message_types | {MODERATION_UPDATE}

    async def authorize(self) -> None:
        if not self._staff:
            raise PermissionDenied

    async def snapshot(self) -> str:
        return await database_sync_to_async(render_rows_snapshot)()

    async def moderation_update(self, event: dict) -> None:
        # A row to append (newly held) or rows to remove (decided), rendered once by the sender.
        await self.send(text_data=event["html"])
