"""Announcements to all members."""

from django.urls import path

from dashboard.announcements import views

urlpatterns = [
    path("announcements/", views.announcement_list, name="announcement_list"),
    path("announcements/<int:pk>/", views.announcement_detail, name="announcement_detail"),
    path("announcements/<int:pk>/pause/", views.announcement_pause, name="announcement_pause"),
    path("announcements/<int:pk>/resume/", views.announcement_resume, name="announcement_resume"),
]
