"""`publish_view`: the one function that tells every watcher of a task about its new state, and
`publish_localized`, which every live page's sender uses to push HTML.

Whoever changes a task's state (the publish signal, the worker's base class, a revoke) calls
`publish_view` with the task's view; it renders the fragments (dashboard.live.fragments) once per
language someone watches in (dashboard.live.languages), never once per watcher, and hands them to
the non-blocking publisher, keyed by task so that a newer state replaces an unsent older one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from django.utils import translation

from dashboard.live.contract import localized
from dashboard.live.fragments import task_messages
from dashboard.live.languages import watched_languages
from dashboard.live.publisher import publisher
from dashboard.live.state import TaskView
from site_config.ops.metrics import LIVE_RENDERS


def publish_view(view: TaskView, *, queued: bool = False) -> None:
    for language in watched_languages():
        with translation.override(language):
            messages = task_messages(view, queued=queued)
        LIVE_RENDERS.inc(language)
        for group, message in messages:
            publisher.publish(localized(group, language), message, key=("task", view.task_id))


def publish_localized(build: Callable[[], list[tuple[str, dict, Hashable]]]) -> None:
    """Render with `build()` (which returns (group, message, key) triples) once per watched
    language, in that language, and publish each message to its group's group for the language."""
    for language in watched_languages():
        with translation.override(language):
            messages = build()
        LIVE_RENDERS.inc(language)
        for group, message, key in messages:
            publisher.publish(localized(group, language), message, key=key)
