"""The form staff write an announcement with."""

from django import forms
from django.utils.translation import gettext_lazy as _


class AnnouncementForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=200)
    body = forms.CharField(label=_("Body"), widget=forms.Textarea(attrs={"rows": 10}), max_length=20_000,
                           help_text=_("Plain text. An unsubscribe link is added below it."))
