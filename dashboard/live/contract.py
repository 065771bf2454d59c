"""The message contract between the processes that publish and the websocket consumers, and the
names of the groups they meet in. Every module of the live path takes its names from here.

A message is a dict handed to the channel layer for one group:

- ``type``: which consumer handler runs it (``"task.update"`` -> ``task_update``); consumers
  define the handlers they accept.
- ``group``: the group it was sent to. The publisher stamps it; the fan-out routes on it (one
  channel-layer subscription per daphne process carries every group, so the message says which).
- ``key``: a coalescing key (a string) or None. Of two undelivered messages with the same group and
  key, only the newer is delivered; messages without a key are all delivered, in order.
- ``sent_at``: wall-clock time (``time.time()``) of the publish, stamped by the publisher; the
  fan-out measures publish-to-delivery latency from it (metric ``site_live_delivery_seconds``).
- ``html``: the fragment every watcher receives, rendered once by the sender. ``html_staff``, when
  present, replaces it for staff watchers (a task's traceback); ``html_decide`` for watchers of the
  moderation queue who may decide comments (the rows' decide buttons); ``html_act`` for watchers of
  an announcement who may pause and resume it (its buttons).

Type-specific fields: ``task.update`` carries ``task_id``, ``final`` (the task reached a final
state) and ``new`` (the task was just queued: list pages count it in their "new tasks" bar).
``schedule.update`` carries ``periodic_task`` (the schedule's primary key).
``user.signed_out`` (to a user's group) carries ``session``, the session_tag of the session that
ended; ``user.rights_changed`` carries nothing: every socket of the user authorises again.

Groups whose messages carry HTML exist once per language (`localized`): the sender renders a
message once for each language someone watches in (dashboard.live.languages keeps that record) and
sends it to that language's group; a consumer joins the group of its connection's language. A
user's group carries no HTML and is not localized.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Hashable

TASK_UPDATE = "task.update"
MODERATION_UPDATE = "moderation.update"
ANNOUNCEMENT_UPDATE = "announcement.update"
POLL_UPDATE = "poll.update"
SCHEDULE_UPDATE = "schedule.update"
PROBE = "fanout.probe"  # a daphne process checking that its own subscription still works

USER_SIGNED_OUT = "user.signed_out"
USER_RIGHTS_CHANGED = "user.rights_changed"

TASKS_GROUP = "tasks"  # every task's row, for the task list pages
MODERATION_GROUP = "moderation"  # held comments arriving and leaving, for the moderation queue
SCHEDULES_GROUP = "schedules"  # a schedule's run sent (beat, run now) or finished, for the schedules page


LANGUAGE_MARK = ".l-"  # between a group's name and its language: "task.<id>.l-zh-hant"


def localized(group: str, language: str) -> str:
    """The group of `group`'s watchers who read `language` (a code of settings.LANGUAGES)."""
    return f"{group}{LANGUAGE_MARK}{language}"


def language_of(group: str) -> str | None:
    """The language of a localized group, else None."""
    _base, mark, language = group.rpartition(LANGUAGE_MARK)
    return language if mark else None


def task_group(task_id: str) -> str:
    """One task's page."""
    return f"task.{task_id}"


def user_tasks_group(user_id: int) -> str:
    """The rows of the tasks one user launched, for their "My tasks" page (nobody else's rows)."""
    return f"user-tasks.{user_id}"


def announcement_group(announcement_id: int) -> str:
    """One announcement's page: its progress in members reached."""
    return f"announcement.{announcement_id}"


def user_group(user_id: int) -> str:
    """Every open socket of one user, whatever page: told when the user's rights may have changed."""
    return f"user.{user_id}"


def session_tag(session_key: str | None) -> str | None:
    """How a message names a session: a digest, so session keys (bearer secrets) never travel
    through the channel layer."""
    if not session_key:
        return None
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


def stamp(message: dict, *, group: str, key: Hashable | None) -> dict:
    """The message as it travels: with its group, its coalescing key and its publish time."""
    return {**message, "group": group, "key": repr(key) if key is not None else None, "sent_at": time.time()}


def handler_name(message_type: str) -> str:
    return message_type.replace(".", "_")
