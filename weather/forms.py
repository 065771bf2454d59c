"""The weather form: one to WEATHER_MAX_CITIES comma-separated city names, checked before any lookup."""

from __future__ import annotations

import unicodedata

from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

MAX_NAME_LENGTH = 80


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(character) in ("Cc", "Cf", "Cs", "Co") for character in text)


class CitiesForm(forms.Form):
    cities = forms.CharField(
        label=_("Cities"),
        max_length=2000,
        help_text=_("Comma-separated, for example: Taipei, Tokyo, London"),
        widget=forms.TextInput(attrs={"placeholder": "Taipei, Tokyo, London", "autocomplete": "off", "size": 50}),
    )

    def clean_cities(self) -> list[str]:
        raw = self.cleaned_data["cities"]
        if _has_control_characters(raw):
            raise forms.ValidationError(gettext("City names cannot contain control characters."))
        names, seen = [], set()
        for part in raw.split(","):
            name = " ".join(part.split())
            if not name or name.casefold() in seen:
                continue
            if len(name) > MAX_NAME_LENGTH:
                raise forms.ValidationError(gettext("“%(name)s…” is too long: at most %(limit)d characters per city.")
                                            % {"name": name[:20], "limit": MAX_NAME_LENGTH})
            seen.add(name.casefold())
            names.append(name)
        if not names:
            raise forms.ValidationError(gettext("Enter at least one city."))
        limit = settings.WEATHER_MAX_CITIES
        if len(names) > limit:
            raise forms.ValidationError(gettext("At most %(limit)d cities at once (you entered %(count)d).")
                                        % {"limit": limit, "count": len(names)})
        return names


class CityForm(forms.Form):
    """One city, for the JSON endpoint."""

    city = forms.CharField(max_length=MAX_NAME_LENGTH)

    def clean_city(self) -> str:
        name = " ".join(self.cleaned_data["city"].split())
        if _has_control_characters(self.cleaned_data["city"]) or not name:
            raise forms.ValidationError(gettext("Enter a city name without control characters."))
        return name
