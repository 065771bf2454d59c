"""URL map of the site."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView, TemplateView

from blog.media import media_file
from blog.views import language_set
from site_config.machinery.throttles import login_throttled

# The admin's log-in is a door too: throttled like ours, keeping its own URL and name (admin:login).
admin.site.login = login_throttled(admin.site.login)

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    # Browsers and feed readers ask for /favicon.ico on their own (the admin's pages name no icon): the
    # site's SVG icon (static/favicon.svg; its hashed name is known only once static files are collected).
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg"))),
    # Django's log-in view, throttled (same URL and name).
    path("accounts/login/", login_throttled(auth_views.LoginView.as_view()), name="login"),
    path("accounts/", include("blog.account_urls")),  # sign-up, verification, outbox password reset
    path("accounts/", include("django.contrib.auth.urls")),
    path("accounts/", include("dashboard.api.page_urls")),  # API tokens
    path("api/", include("dashboard.api.urls")),
    path("blog/", include("blog.urls")),
    path("admin/", admin.site.urls),
    path("dashboard/", include("dashboard.urls")),
    path("weather/", include("weather.urls")),
    # Uploaded post images, from the default storage (blog/media.py says who may read what).
    path("media/<path:name>", media_file, name="media_file"),
    # The header's language switch (a POST; remembered in a cookie and a signed-in member's profile).
    path("language/", language_set, name="set_language"),
]

# A refusal says why, to htmx requests too (site_config/machinery/errors.py).
handler403 = "site_config.machinery.errors.permission_denied"
