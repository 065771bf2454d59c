"""The tokens page (/accounts/tokens/): a signed-in user names, creates and revokes their API tokens.

The plain token is shown once, in the answer to the POST that created it (never stored, never in a
redirect URL or the session); the list shows each token's prefix, creation and last use.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from dashboard.api.tokens import TokenRefused, api_token_create, api_token_revoke
from dashboard.models import ApiToken


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"), help_text=_("Where it will be used, e.g. “CI deploy job”."))
    expires_in_days = forms.TypedChoiceField(
        label=_("Expires"), coerce=int, empty_value=None, required=False, initial="90",
        choices=[("30", _("in 30 days")), ("90", _("in 90 days")), ("365", _("in a year")),
                 ("", _("never (until revoked)"))])
    password = forms.CharField(label=_("Your password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                               help_text=_("A token acts as you: creating one asks for your password."))

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(gettext("That is not your password."))
        return password


@login_required
def token_list(request):
    form = TokenForm(request.POST or None, user=request.user)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                row, plain = api_token_create(user=request.user, name=form.cleaned_data["name"],
                                              expires_in_days=form.cleaned_data["expires_in_days"])
            except TokenRefused as refusal:
                form.add_error("name", str(refusal))
            else:
                created = {"row": row, "token": plain}
                form = TokenForm(user=request.user)
        if form.errors:
            status = 400
    response = render(request, "dashboard/api/tokens.html", {
        "form": form,
        "created": created,
        "tokens": ApiToken.objects.filter(user=request.user),
    }, status=status)
    response["Cache-Control"] = "no-store"  # the page may hold a plain token
    return response


@login_required
@require_POST
def token_revoke(request, token_id: int):
    if api_token_revoke(user=request.user, token_id=token_id):
        messages.success(request, gettext("Revoked: the token no longer works."))
    else:
        messages.error(request, gettext("No such active token of yours."))
    return redirect("api_tokens")
