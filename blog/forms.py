"""Forms of the blog: sign-up, comments, the password reset that goes through the outbox, and the
post form staff write with (the admin and the dashboard both use it)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm, UserCreationForm
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template import loader
from django.utils import translation
from django.utils.text import slugify
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from blog.models import Post
from blog.services import images, members, outbox


class SignupForm(UserCreationForm):
    email = forms.EmailField(label=_("Email"), required=True, help_text=_("We send a link to confirm it before you can comment."))

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        # No "already registered" error: sign-up answers the same for a known address (whose owner
        # is told by email, blog.services.members.member_signup). A taken username still says so.
        return self.cleaned_data["email"].strip()


class CommentForm(forms.Form):
    body = forms.CharField(
        label=_("Your comment"),
        max_length=settings.COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Plain text. Links are allowed but comments with many links wait for a moderator."),
    )

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].strip()
        if not body:
            raise forms.ValidationError(gettext("Write something first."))
        return body


class OutboxPasswordResetForm(PasswordResetForm):
    """Django's password reset, but the email is an outbox row sent by Celery like every other, and
    its link points at SITE_URL."""

    def save(self, *, domain_override=None, use_https=False, **kwargs):
        # Django would build the link from the request's Host header, which the client chooses: a
        # reset asked for with a forged Host would mail the victim a link (with its token) to the
        # forger's host. SITE_URL is the only source of links in emails.
        site = urlsplit(settings.SITE_URL)
        return super().save(domain_override=site.netloc, use_https=site.scheme == "https", **kwargs)

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email,
                  html_email_template_name=None) -> None:
        # Written in the account owner's language (Django's own templates, translated by Django).
        with translation.override(members.member_language(user=context["user"])):
            subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
            body = loader.render_to_string(email_template_name, context)
        with transaction.atomic():
            outbox.email_queue(to=to_email, subject=subject, body=body, kind="password_reset")


class PostForm(forms.ModelForm):
    """A post with its image. An uploaded image is checked by decoding its header (JPEG, PNG or WebP,
    whatever its name says), its size in bytes and its pixel count, then stored under a name the site
    chooses; saving it queues the renditions task (blog.services.posts.post_write)."""

    slug = forms.SlugField(label=_("Slug"), max_length=200, required=False, help_text=_("Leave empty to make it from the title."))

    class Meta:
        model = Post
        fields = ("title", "slug", "body", "status", "image", "image_alt")
        # Labels here rather than verbose names on the model: a model label change is a migration.
        labels = {"title": _("Title"), "slug": _("Slug"), "body": _("Body"), "status": _("Status"),
                  "image": _("Image")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "image" in self.fields:
            self.fields["image"].widget.attrs["accept"] = "image/jpeg,image/png,image/webp"
            self.fields["image"].help_text = gettext(
                "JPEG, PNG or WebP, at most %(megabytes)s MB and %(megapixels)s megapixels. "
                "The web sizes are made in the background."
            ) % {"megabytes": settings.POST_IMAGE_MAX_BYTES // (1024 * 1024),
                 "megapixels": f"{settings.POST_IMAGE_MAX_PIXELS / 1_000_000:g}"}

    def clean_slug(self) -> str:
        return self.cleaned_data.get("slug") or slugify(self.data.get(self.add_prefix("title"), ""))[:200]

    def clean_image(self):
        image = self.cleaned_data.get("image")
        if isinstance(image, UploadedFile):  # a new upload (not the stored file, not a cleared one)
            try:
                info = images.image_inspect(file=image)
            except images.ImageRejected as error:
                raise forms.ValidationError(gettext("This file cannot be used: %(reason)s.") % {"reason": error}) from None
            image.name = images.original_name(info)
        return image

    def clean(self):
        data = super().clean()
        if data.get("image") and not data.get("image_alt"):
            self.add_error("image_alt", gettext("Describe the image for people who cannot see it."))
        return data
