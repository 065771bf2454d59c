"""Signals the blog sends so other apps can react without the blog knowing them.

`comment_status_changed` is sent after the transaction that changed the comments commits, with
keyword arguments `comment_ids` (list of pks), `previous_status`, `new_status` and `moderator_id`
(None for the automatic moderation). The dashboard subscribes to keep live moderation queues in step.
The email and announcement signals below keep the dashboard's announcement pages in step.
"""

from django.dispatch import Signal

comment_status_changed = Signal()

# Sent after emails went out (outbox: one email or a batch), with `email_ids` and `kinds` (a set):
# the dashboard's announcement pages count the members reached.
emails_sent = Signal()

# Sent after an announcement changed (a batch handed to the outbox, paused, resumed, finished),
# after commit, with `announcement_id`.
announcement_changed = Signal()
