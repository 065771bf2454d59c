"""Beat schedules."""

from django.urls import path

from dashboard.schedules import views

urlpatterns = [
    path("schedules/", views.schedule_list, name="schedule_list"),
    path("schedules/new/", views.schedule_create_view, name="schedule_create"),
    path("schedules/bulk/", views.schedules_bulk, name="schedules_bulk"),
    path("schedules/<int:pk>/", views.schedule_detail, name="schedule_detail"),
    path("schedules/<int:pk>/enabled/", views.schedule_enable, name="schedule_enable"),
    path("schedules/<int:pk>/run/", views.schedule_run, name="schedule_run"),
    path("schedules/<int:pk>/duplicate/", views.schedule_duplicate_view, name="schedule_duplicate"),
    path("schedules/<int:pk>/delete/", views.schedule_delete_view, name="schedule_delete"),
]
