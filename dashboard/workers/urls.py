"""Workers and queues: the page, worker control, running a task."""

from django.urls import path

from dashboard.workers import views

urlpatterns = [
    path("workers/", views.workers_page, name="workers"),
    path("workers/queues/<str:name>/purge/", views.queue_purge_view, name="queue_purge"),
    path("workers/control/<slug:kind>/", views.worker_control, name="worker_control"),
    path("workers/run/", views.run_task, name="run_task"),
]
