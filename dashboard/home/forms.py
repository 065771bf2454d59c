"""Dashboard forms."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class DemoJobForm(forms.Form):
    steps = forms.IntegerField(label=_("Steps"), min_value=1, initial=20, help_text=_("How many steps the job reports."))
    delay_ms = forms.IntegerField(min_value=0, initial=250, label=_("Delay per step (ms)"))
    fail_at_step = forms.IntegerField(
        min_value=1, required=False, label=_("Fail at step"), help_text=_("Optional: raise an error at this step.")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["steps"].max_value = settings.DEMO_JOB_MAX_STEPS
        self.fields["steps"].widget.attrs["max"] = settings.DEMO_JOB_MAX_STEPS
        self.fields["delay_ms"].widget.attrs["max"] = settings.DEMO_JOB_MAX_DELAY_MS

    def clean_steps(self) -> int:
        steps = self.cleaned_data["steps"]
        if steps > settings.DEMO_JOB_MAX_STEPS:
            raise forms.ValidationError(gettext("At most %(count)d steps.") % {"count": settings.DEMO_JOB_MAX_STEPS})
        return steps

    def clean_delay_ms(self) -> int:
        delay = self.cleaned_data["delay_ms"]
        if delay > settings.DEMO_JOB_MAX_DELAY_MS:
            raise forms.ValidationError(gettext("At most %(count)d ms per step.") % {"count": settings.DEMO_JOB_MAX_DELAY_MS})
        return delay

    def clean(self):
        data = super().clean()
        fail_at, steps, delay = data.get("fail_at_step"), data.get("steps"), data.get("delay_ms")
        if fail_at and steps and fail_at > steps:
            self.add_error("fail_at_step", gettext("Must be within the number of steps."))
        # The job is acknowledged late: one running longer than the broker's visibility timeout
        # would be delivered a second time while still running.
        limit = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] // 2
        if steps and delay is not None and steps * delay / 1000 > limit:
            self.add_error(None, gettext("That job would run %(seconds)d s; keep it under %(limit)d s.")
                           % {"seconds": steps * delay // 1000, "limit": limit})
        return data
