"""Daily reports."""

from django.urls import path

from dashboard.reports import views

urlpatterns = [
    path("reports/", views.report_list, name="report_list"),
    path("reports/<str:day>/", views.report_detail, name="report_detail"),
]
