"""The API tokens page (under /accounts/)."""

from django.urls import path

from dashboard.api import pages

urlpatterns = [
    path("tokens/", pages.token_list, name="api_tokens"),
    path("tokens/<int:token_id>/revoke/", pages.token_revoke, name="api_token_revoke"),
]
