"""Websocket consumer of one announcement's page (/ws/announcements/<pk>/)."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied
from django.http import Http404

from blog.models import Announcement
from dashboard.announcements.live import render_progress
from dashboard.live.consumers import LiveConsumer
from dashboard.live.contract import ANNOUNCEMENT_UPDATE, announcement_group
from dashboard.permissions import SEND_ANNOUNCEMENT, may


class AnnouncementConsumer(LiveConsumer):
    """Staff only. Snapshot: the progress section from the database; then each pushed change. Staff
    who may send announcements get the variant with the pause/resume buttons (checked at connect; a
    change to the permission ends the socket, so the reconnect checks it again)."""

    message_types = LiveConsumer.message_types | {ANNOUNCEMENT_UPDATE}

    async def authorize(self) -> None:
        if not self._staff:
            raise PermissionDenied
        self.announcement_id = int(self.scope["url_route"]["kwargs"]["pk"])
        if not await Announcement.objects.filter(pk=self.announcement_id).aexists():
            raise Http404
        self.groups_to_join = [announcement_group(self.announcement_id)]
        self._can_send = await database_sync_to_async(may)(self.scope["user"], SEND_ANNOUNCEMENT)

    async def snapshot(self) -> str:
        return await database_sync_to_async(self._render_snapshot)()

    def _render_snapshot(self) -> str:
        announcement = Announcement.objects.filter(pk=self.announcement_id).first()
        return "" if announcement is None else render_progress(announcement, can_send=self._can_send)

    async def announcement_update(self, event: dict) -> None:
        await self.send(text_data=event["html_act"] if self._can_send and "html_act" in event else event["html"])
