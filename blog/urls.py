"""Public blog URLs (under /blog/)."""

from django.urls import path

from . import views

app_name = "blog"

urlpatterns = [
    path("", views.post_list, name="post_list"),
    path("<slug:slug>/", views.post_detail, name="post_detail"),
    path("<slug:slug>/comments/", views.comment_create, name="comment_create"),
]
