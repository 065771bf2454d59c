"""Workers and queues."""

from django.urls import path

from dashboard.workers import views

urlpatterns = [
    path("workers/", views.workers_page, name="workers"),
    path("workers/queues/<str:name>/purge/", views.queue_purge_view, name="queue_purge"),
]
