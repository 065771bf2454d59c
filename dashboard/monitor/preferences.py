"""Each person's task list view: the optional columns it shows and its page size, kept in a
TaskListPreference row (it survives logging out), chosen through a plain GET form on the list."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from dashboard.models import TaskListPreference
from dashboard.monitor.filters import PAGE_SIZE, PAGE_SIZES

#: The columns a reader may add to the list, besides the ones it always shows. Each is rendered in
#: every row (pushed rows too) and hidden by CSS unless the table's data-columns names it.
OPTIONAL_COLUMNS = {
    "worker": _("Worker"),
    "args": _("Arguments"),
    "result": _("Result or error"),
    "retries": _("Retries"),
    "eta": _("ETA"),
    "expires": _("Expires"),
}


class TaskListViewForm(forms.Form):
    columns = forms.MultipleChoiceField(choices=list(OPTIONAL_COLUMNS.items()), required=False,
                                        widget=forms.CheckboxSelectMultiple, label=_("Extra columns"))
    size = forms.TypedChoiceField(choices=[(n, n) for n in PAGE_SIZES], coerce=int, label=_("Rows per page"))


def task_list_preference_get(*, user) -> TaskListPreference:
    """The user's saved choice, or the defaults (not saved) when they never chose."""
    preference = TaskListPreference.objects.filter(user=user).first()
    return preference or TaskListPreference(user=user, columns=[], page_size=PAGE_SIZE)


def task_list_preference_save(*, user, columns: list[str], page_size: int) -> TaskListPreference:
    columns = [column for column in OPTIONAL_COLUMNS if column in columns]  # known ones, in display order
    if page_size not in PAGE_SIZES:
        raise ValueError(f"page size {page_size} is not one of {PAGE_SIZES}")
    preference, _created = TaskListPreference.objects.update_or_create(
        user=user, defaults={"columns": columns, "page_size": page_size})
    return preference


def page_size_of(user) -> int:
    """The user's page size (a stored value no longer offered falls back to the default)."""
    size = TaskListPreference.objects.filter(user=user).values_list("page_size", flat=True).first()
    return size if size in PAGE_SIZES else PAGE_SIZE
