"""Signals the blog sends so other apps can react without the blog knowing them.

`comment_status_changed` is sent after the transaction that changed the comments commits, with
keyword arguments `comment_ids` (list of pks), `previous_status`, `new_status` and `moderator_id`
(None for the automatic moderation). The dashboard subscribes to keep live moderation queues in step.
"""

from django.dispatch import Signal

comment_status_changed = Signal()
