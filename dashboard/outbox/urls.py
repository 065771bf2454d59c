"""The email outbox."""

from django.urls import path

from dashboard.outbox import views

urlpatterns = [
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<int:pk>/retry/", views.outbox_retry, name="outbox_retry"),
]
