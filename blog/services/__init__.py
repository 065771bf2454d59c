"""Blog business logic, one module per domain: members (sign-up, email verification, purge),
comments (creation, automatic and staff moderation) and outbox (queuing and sending email).

Views, tasks, the admin and the dashboard call these functions; they never call each other's
views. State changes are conditional updates whose row count is the lock, and anything that must
happen after a change (sending an email, telling live pages) is queued with on_commit.

Import the domain module you need (``from blog.services import comments``): this package
re-exports nothing, so each caller shows which domain it depends on.
"""
