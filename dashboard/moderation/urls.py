"""The moderation queue."""

from django.urls import path

from dashboard.moderation import views

urlpatterns = [
    path("moderation/", views.moderation_queue, name="moderation_queue"),
    path("moderation/bulk/", views.moderation_bulk, name="moderation_bulk"),
    path("moderation/<int:pk>/decide/", views.moderation_decide, name="moderation_decide"),
]
