"""Dashboard home and the demo job."""

from django.urls import path

from dashboard.home import views

urlpatterns = [
    path("", views.home, name="home"),
    path("tasks/demo/", views.demo_job_start, name="demo_job_start"),
]
