"""`{{ name|task_title }}`: a task's human title from its Python name (dashboard.live.state.task_title);
`{{ name|titled_task_name }}`: for staff, the title with the Python name beside it;
`{{ event.kind|event_kind }}`: a timeline event's kind (an identifier in the row) in the page's language."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.translation import pgettext_lazy

from dashboard.live.state import task_title as title_of

register = template.Library()


@register.filter
def task_title(name: str) -> str:
    return title_of(name or "")


@register.filter
def titled_task_name(name: str) -> str:
    title = title_of(name or "")
    if not name or title == name:
        return format_html("<code>{}</code>", name or "")
    return format_html('{} <small><code class="task-python-name">{}</code></small>', title, name)


EVENT_KINDS = {
    "queued": pgettext_lazy("timeline event", "queued"),
    "received": pgettext_lazy("timeline event", "received"),
    "started": pgettext_lazy("timeline event", "started"),
    "retry": pgettext_lazy("timeline event", "retry"),
    "retried": pgettext_lazy("timeline event", "retried"),
    "succeeded": pgettext_lazy("timeline event", "succeeded"),
    "failed": pgettext_lazy("timeline event", "failed"),
    "revoked": pgettext_lazy("timeline event", "revoked"),
    "revoke": pgettext_lazy("timeline event", "revoke"),
    "terminate": pgettext_lazy("timeline event", "terminate"),
    "cancel": pgettext_lazy("timeline event", "cancel requested"),
    "ignored": pgettext_lazy("timeline event", "ignored"),
    "lost": pgettext_lazy("timeline event", "lost"),
}


@register.filter
def event_kind(kind: str) -> str:
    return str(EVENT_KINDS.get(kind, kind))
