"""How the API knows who is calling: a per-user token (`Authorization: Bearer ldt_...`) or the
browser session (DRF's SessionAuthentication, which enforces CSRF on unsafe methods, as the pages do).
"""

from __future__ import annotations

from django.utils.translation import gettext
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from dashboard.api.tokens import api_token_authenticate

KEYWORD = b"bearer"


def bearer_token(header: bytes) -> str | None:
    """The token from an Authorization header, None when it names another scheme; raises
    AuthenticationFailed for a malformed Bearer header."""
    parts = header.split()
    if not parts or parts[0].lower() != KEYWORD:
        return None
    if len(parts) != 2:
        raise AuthenticationFailed(gettext("The Authorization header must be “Bearer <token>”."))
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise AuthenticationFailed(gettext("The token contains characters a token never has.")) from None


def user_for_token(token: str):
    """(user, token row) for a valid token; raises AuthenticationFailed otherwise."""
    row = api_token_authenticate(token)
    if row is None:
        raise AuthenticationFailed(gettext("This token is not valid (mistyped, revoked, expired, or its owner's "
                                           "password changed since it was made)."))
    if not row.user.is_active:
        raise AuthenticationFailed(gettext("The account this token belongs to is disabled."))
    return row.user, row


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        token = bearer_token(get_authorization_header(request))
        return None if token is None else user_for_token(token)

    def authenticate_header(self, request) -> str:
        # Makes an unauthenticated call a 401 (with this challenge) rather than a 403.
        return 'Bearer realm="api"'
