"""Template helpers for how values look on every page: instants and long dotted names.

`{% time_tag value "style" %}` renders an instant as `<time datetime="...Z">` with text in the site's
zone (zone named) and the UTC time as its title; static/js/site.js rewrites the text into the viewer's
own zone in the browser. The server's output depends on nothing about the viewer, so a fragment that
is pushed live is still rendered once for every watcher.

A "date" is written in the page's language (Django's month names, a date format translated in the
catalogue: "1 December 2026", "2026年12月1日"); the clock styles are digits, the same in every language.

`{{ name|breakable }}` lets a long task name ("dashboard.tasks.cleanup_task_results_task") break after
its dots and underscores instead of pushing a table wider than a phone.

`{{ event.detail|shown }}`: a text the site stored as an identifier with parameters, in the page's
language (site_config.machinery.stored_texts).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django import template
from django.utils import dateformat, timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import pgettext

from site_config.machinery.stored_texts import shown as stored_shown

register = template.Library()

# style -> strftime format of the server-rendered text (the browser's text follows the same shape).
TIME_STYLES = {
    "datetime": "%Y-%m-%d %H:%M:%S",
    "minute": "%H:%M",
    "time": "%H:%M:%S",
    "date": "",  # in the page's language: a translated Django date format (time_tag)
    "precise": "%Y-%m-%d %H:%M:%S.%f",  # cut to milliseconds below
    "relative": "%Y-%m-%d %H:%M:%S",  # the browser shows "3 min ago", refreshed while the page is open
}
ZONED_STYLES = {"datetime", "minute", "time", "precise", "relative"}


@register.simple_tag
def time_tag(value: datetime | None, style: str = "datetime", empty: str = "") -> str:
    """`<time>` for an aware instant; `empty` (escaped) when there is none."""
    if value is None or value == "":
        return conditional_escape(empty)
    if style not in TIME_STYLES:
        raise template.TemplateSyntaxError(f"time_tag: unknown style {style!r} (one of {', '.join(TIME_STYLES)})")
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    utc = value.astimezone(UTC)
    shown = timezone.localtime(value)
    if style == "date":
        # Translators: a Django date format (https://docs.djangoproject.com/en/stable/ref/templates/builtins/#date).
        text = dateformat.format(shown, pgettext("time_tag date format", "j F Y"))
    else:
        text = shown.strftime(TIME_STYLES[style])
    if style == "precise":
        text = text[:-3]
    if style in ZONED_STYLES:
        text += " " + shown.strftime("%Z")
    return format_html(
        '<time datetime="{}" title="{} UTC" data-local="{}">{}</time>',
        utc.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        style,
        text,
    )


BREAK_AFTER = re.compile(r"([._])")


@register.filter(is_safe=True)
def breakable(value) -> str:
    """The escaped text with a <wbr> after every dot and underscore."""
    return mark_safe(BREAK_AFTER.sub(r"\1<wbr>", str(conditional_escape(value))))


@register.filter
def shown(value) -> str:
    """A stored text (site_config.machinery.stored_texts) in words in the page's language; plain
    text as it is."""
    return stored_shown(value)
