"""Posts as staff write them, with their image (/dashboard/posts/)."""

from django.urls import path

from dashboard.posts import views

urlpatterns = [
    path("posts/", views.post_list, name="post_list"),
    path("posts/new/", views.post_create, name="post_create"),
    path("posts/<int:pk>/", views.post_edit, name="post_edit"),
]
