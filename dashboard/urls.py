"""Dashboard URLs (under /dashboard/): each feature's, under one namespace."""

from django.urls import include, path

app_name = "dashboard"

urlpatterns = [
    path("", include("dashboard.home.urls")),
    path("", include("dashboard.monitor.urls")),
    path("", include("dashboard.schedules.urls")),
    path("", include("dashboard.reports.urls")),
    path("", include("dashboard.moderation.urls")),
    path("", include("dashboard.outbox.urls")),
    path("", include("dashboard.announcements.urls")),
    path("", include("dashboard.workers.urls")),
    path("", include("dashboard.jobs.urls")),
    path("", include("dashboard.exports.urls")),
    path("", include("dashboard.posts.urls")),
]
