from django.apps import AppConfig


class BlogConfig(AppConfig):
    name = "blog"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import pre_delete

        from blog.models import Post
        from blog.services.members import language_on_login

        pre_delete.connect(_post_image_files_delete, sender=Post, dispatch_uid="blog.post_image_files_delete")
        user_logged_in.connect(language_on_login, dispatch_uid="blog.language_on_login")


def _post_image_files_delete(sender, instance, **kwargs) -> None:
    # Before the cascade removes the rendition rows that name the files.
    from blog.services import images

    images.post_image_files_delete(post=instance)
