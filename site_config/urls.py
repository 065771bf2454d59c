"""URL map of the site."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("accounts/", include("blog.account_urls")),  # sign-up, verification, outbox password reset
    path("accounts/", include("django.contrib.auth.urls")),
    path("blog/", include("blog.urls")),
    path("admin/", admin.site.urls),
    path("dashboard/", include("dashboard.urls")),
    path("weather/", include("weather.urls")),
]

# A refusal says why, to htmx requests too (site_config/errors.py).
handler403 = "site_config.errors.permission_denied"
