"""Beat schedules."""

from django.urls import path

from dashboard.schedules import views

urlpatterns = [
    path("schedules/", views.schedule_list, name="schedule_list"),
    path("schedules/<int:pk>/", views.schedule_detail, name="schedule_detail"),
    path("schedules/<int:pk>/enabled/", views.schedule_enable, name="schedule_enable"),
    path("schedules/<int:pk>/run/", views.schedule_run, name="schedule_run"),
]
