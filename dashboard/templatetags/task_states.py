"""`{{ state|state_label }}`: a Celery state name ("FAILURE") as the task list's filter names it, in
the page's language."""

from __future__ import annotations

from django import template

from dashboard.monitor.filters import STATE_CHOICES

register = template.Library()
LABELS = dict(STATE_CHOICES)


@register.filter
def state_label(state: str) -> str:
    return LABELS.get(state, state)
