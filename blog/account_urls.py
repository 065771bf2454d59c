"""Member URLs (under /accounts/, placed before django.contrib.auth.urls so they take precedence).

The doors that send email or create accounts are throttled (site_config/machinery/throttles.py)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from site_config.machinery.throttles import password_reset_throttled, signup_throttled, verification_resend_throttled

from . import views
from .forms import OutboxPasswordResetForm

urlpatterns = [
    path("signup/", signup_throttled(views.signup), name="signup"),
    path("verify/resend/", verification_resend_throttled(views.verify_email_resend), name="verify_email_resend"),
    path("email-state/", views.email_state, name="email_state"),
    path("verify/<str:token>/", views.verify_email, name="verify_email"),
    path("unsubscribe/<str:token>/", views.announcements_unsubscribe, name="announcements_unsubscribe"),
    # Same URL and name as Django's, with a form whose email goes through the outbox.
    path(
        "password_reset/",
        password_reset_throttled(auth_views.PasswordResetView.as_view(form_class=OutboxPasswordResetForm)),
        name="password_reset",
    ),
]
