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


@login_required
def token_list(request):
    form = TokenForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                row, plain = api_token_create(user=request.user, name=form.cleaned_data["name"])
            except TokenRefused as refusal:
                form.add_error("name", str(refusal))
            else:
                created = {"row": row, "token": plain}
                form = TokenForm()
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
