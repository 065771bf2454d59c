"""Admin list filters by allow-list: `?<field>__<lookup>=` only on the fields a list offers.

Django's admin accepts a query-string lookup on any local field of the listed model. On a field
that holds a secret (an email's body with a reset link, a task's arguments) that is a yes/no
oracle: `?body__contains=<guess>` shows the row or not. Every admin the project registers, or
registers again over a package's, uses `AllowListedLookups`: a lookup must start with one of the
list's own filters, its date hierarchy or a name in `lookup_allow_list`; anything else is refused
with Django's 400 (DisallowedModelAdminLookup), as Django refuses `password` on its user admin.
"""

from __future__ import annotations

from django.db.models.constants import LOOKUP_SEP


class AllowListedLookups:
    """A ModelAdmin mixin; put it before `admin.ModelAdmin` (or the package's admin class)."""

    #: Field names that may be filtered on beyond list_filter and date_hierarchy.
    lookup_allow_list: tuple[str, ...] = ()

    def allowed_lookup_fields(self) -> set[str]:
        names = set(self.lookup_allow_list)
        for entry in self.list_filter:
            if isinstance(entry, str):
                names.add(entry.split(LOOKUP_SEP)[0])
            elif isinstance(entry, (tuple, list)) and isinstance(entry[0], str):
                names.add(entry[0].split(LOOKUP_SEP)[0])
            elif getattr(entry, "parameter_name", None):  # a SimpleListFilter names its own parameter
                names.add(entry.parameter_name)
        if self.date_hierarchy:
            names.add(self.date_hierarchy.split(LOOKUP_SEP)[0])
        return names

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        if lookup.split(LOOKUP_SEP)[0] not in self.allowed_lookup_fields():
            return False
        return super().lookup_allowed(lookup, value, request)
