"""Tell a user's open sockets when their right to them may have ended.

A websocket is authorised once, when it connects; these receivers of Django's signals publish to
the user's group (contract.user_group), which every socket of that user joins
(dashboard.live.consumers.LiveConsumer):

- logout (user_logged_out): ``user.signed_out`` with that session's tag; its sockets close (4403);
- the account's is_active, is_staff, is_superuser or password changed (post_save, compared with the
  row as it was), the account deleted, its groups or its own permissions changed, or the permissions
  of a group it belongs to (m2m_changed, and a group deleted): ``user.rights_changed``; every socket
  of the user authorises again, as a new connection would.

Messages go out after the transaction commits (the sockets re-read the rows), through the
non-blocking publisher. A queryset .update() sends no signal: WS_MAX_AGE_SECONDS bounds how long a
socket outlives such a change.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model, user_logged_out
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from dashboard.live.contract import USER_RIGHTS_CHANGED, USER_SIGNED_OUT, session_tag, user_group
from dashboard.live.publisher import publisher

User = get_user_model()

#: The fields of the user row that decide what a socket may show.
RIGHTS_FIELDS = ("is_active", "is_staff", "is_superuser", "password")
MEMBERSHIP_ACTIONS = ("post_add", "post_remove", "pre_clear")  # pre_clear: the rows still say who


def rights_changed(*, user_ids) -> None:
    """Have every open socket of these users authorise again, once the transaction commits."""
    ids = sorted(set(user_ids))
    if not ids:
        return

    def publish() -> None:
        for user_id in ids:
            publisher.publish(user_group(user_id), {"type": USER_RIGHTS_CHANGED}, key=("rights", user_id))

    transaction.on_commit(publish)


def signed_out(sender, request, user, **kwargs) -> None:
    if user is None or request is None or not hasattr(request, "session"):
        return
    tag = session_tag(request.session.session_key)
    if tag is not None:
        publisher.publish(user_group(user.pk), {"type": USER_SIGNED_OUT, "session": tag})


def remember_rights(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(RIGHTS_FIELDS):
        return  # e.g. last_login at every login: no query
    instance._rights_before = User.objects.filter(pk=instance.pk).values_list(*RIGHTS_FIELDS).first()


def compare_rights(sender, instance, created=False, raw=False, **kwargs) -> None:
    before = instance.__dict__.pop("_rights_before", None)
    if created or raw or before is None:
        return
    if before != tuple(getattr(instance, field) for field in RIGHTS_FIELDS):
        rights_changed(user_ids=[instance.pk])


def user_deleted(sender, instance, **kwargs) -> None:
    rights_changed(user_ids=[instance.pk])


def memberships_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """user.groups or user.user_permissions, from either side."""
    if action not in MEMBERSHIP_ACTIONS:
        return
    if not reverse:
        rights_changed(user_ids=[instance.pk])
    elif action == "pre_clear":  # group.user_set.clear() / permission.user_set.clear()
        rights_changed(user_ids=instance.user_set.values_list("pk", flat=True))
    else:
        rights_changed(user_ids=pk_set)


def group_permissions_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """group.permissions, from either side: every member of the groups concerned."""
    if action not in MEMBERSHIP_ACTIONS:
        return
    if not reverse:
        members = User.objects.filter(groups=instance)
    elif action == "pre_clear":  # permission.group_set.clear()
        members = User.objects.filter(groups__permissions=instance)
    else:
        members = User.objects.filter(groups__in=pk_set)
    rights_changed(user_ids=members.values_list("pk", flat=True))


def group_deleted(sender, instance, **kwargs) -> None:
    # Deleting a group removes its memberships without m2m_changed.
    rights_changed(user_ids=instance.user_set.values_list("pk", flat=True))


def connect() -> None:
    """Called once from DashboardConfig.ready()."""
    user_logged_out.connect(signed_out, dispatch_uid="dashboard.live.rights.signed_out")
    pre_save.connect(remember_rights, sender=User, dispatch_uid="dashboard.live.rights.remember")
    post_save.connect(compare_rights, sender=User, dispatch_uid="dashboard.live.rights.compare")
    post_delete.connect(user_deleted, sender=User, dispatch_uid="dashboard.live.rights.user_deleted")
    m2m_changed.connect(memberships_changed, sender=User.groups.through,
                        dispatch_uid="dashboard.live.rights.groups")
    m2m_changed.connect(memberships_changed, sender=User.user_permissions.through,
                        dispatch_uid="dashboard.live.rights.user_permissions")
    m2m_changed.connect(group_permissions_changed, sender=Group.permissions.through,
                        dispatch_uid="dashboard.live.rights.group_permissions")
    pre_delete.connect(group_deleted, sender=Group, dispatch_uid="dashboard.live.rights.group_deleted")
