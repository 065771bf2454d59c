"""Forms of the blog: sign-up, comments, and the password reset that goes through the outbox."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm, UserCreationForm
from django.db import transaction
from django.template import loader

from blog.services import outbox


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=True, help_text="We send a link to confirm it before you can comment.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        # No "already registered" error: sign-up answers the same for a known address (whose owner
        # is told by email, blog.services.members.member_signup). A taken username still says so.
        return self.cleaned_data["email"].strip()


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Your comment",
        max_length=settings.COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Plain text. Links are allowed but comments with many links wait for a moderator.",
    )

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].strip()
        if not body:
            raise forms.ValidationError("Write something first.")
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
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        with transaction.atomic():
            outbox.email_queue(to=to_email, subject=subject, body=body, kind="password_reset")
