"""`{{ name|task_title }}`: a task's human title from its Python name (dashboard.live.state.task_title);
`{{ name|titled_task_name }}`: for staff, the title with the Python name beside it."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

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
