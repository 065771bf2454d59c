"""The weather form: one to WEATHER_MAX_CITIES comma-separated city names, checked before any lookup."""

from __future__ import annotations

import unicodedata

from django import forms
from django.conf import settings

MAX_NAME_LENGTH = 80


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(character) in ("Cc", "Cf", "Cs", "Co") for character in text)


class CitiesForm(forms.Form):
    cities = forms.CharField(
        label="Cities",
        max_length=2000,
        help_text="Comma-separated, for example: Taipei, Tokyo, London",
        widget=forms.TextInput(attrs={"placeholder": "Taipei, Tokyo, London", "autocomplete": "off", "size": 50}),
    )

    def clean_cities(self) -> list[str]:
        raw = self.cleaned_data["cities"]
        if _has_control_characters(raw):
            raise forms.ValidationError("City names cannot contain control characters.")
        names, seen = [], set()
        for part in raw.split(","):
            name = " ".join(part.split())
            if not name or name.casefold() in seen:
                continue
            if len(name) > MAX_NAME_LENGTH:
                raise forms.ValidationError(f"“{name[:20]}…” is too long: at most {MAX_NAME_LENGTH} characters per city.")
            seen.add(name.casefold())
            names.append(name)
        if not names:
            raise forms.ValidationError("Enter at least one city.")
        limit = settings.WEATHER_MAX_CITIES
        if len(names) > limit:
            raise forms.ValidationError(f"At most {limit} cities at once (you entered {len(names)}).")
        return names


class CityForm(forms.Form):
    """One city, for the JSON endpoint."""

    city = forms.CharField(max_length=MAX_NAME_LENGTH)

    def clean_city(self) -> str:
        name = " ".join(self.cleaned_data["city"].split())
        if _has_control_characters(self.cleaned_data["city"]) or not name:
            raise forms.ValidationError("Enter a city name without control characters.")
        return name
