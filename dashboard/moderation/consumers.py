"""Websocket consumer of the moderation queue (/ws/moderation/)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied

from dashboard.live.consumers import LiveConsumer
from dashboard.live.contract import MODERATION_GROUP, MODERATION_UPDATE
from dashboard.moderation.queue import render_rows_snapshot
from dashboard.permissions import DECIDE_COMMENTS, may


class ModerationConsumer(LiveConsumer):
    """The moderation queue (/ws/moderation/): staff only. Snapshot: the held queue's first page.

    Staff who may decide comments get rows with the decide buttons, the others read-only rows; the
    permission is checked at connect, and a change to it ends the socket (LiveConsumer), so the
    reconnect checks it again.
    """

    groups_to_join = [MODERATION_GROUP]
    message_types = LiveConsumer.message_types | {MODERATION_UPDATE}

    async def authorize(self) -> None:
        if not self._staff:
            raise PermissionDenied
        self._can_decide = await database_sync_to_async(may)(self.scope["user"], DECIDE_COMMENTS)

    async def snapshot(self) -> str:
        return await database_sync_to_async(render_rows_snapshot)(can_decide=self._can_decide)

    async def moderation_update(self, event: dict) -> None:
        # A row to append (newly held) or rows to remove (decided), rendered once by the sender.
        html = event["html_decide"] if self._can_decide and "html_decide" in event else event["html"]
        await self.send(text_data=html)
