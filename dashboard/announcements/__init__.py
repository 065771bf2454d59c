"""Announcements (/dashboard/announcements/): staff write to every verified member; the sending
itself (batches through the outbox, pause, resume, unsubscribe) is blog.services.announcements."""
