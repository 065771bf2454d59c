"""The admins the dashboard registers again over the packages' own (Django's autodiscovery imports
this module): periodic tasks (dashboard/schedules/admin.py) and task results
(dashboard/monitor/admin.py)."""

from dashboard.monitor import admin as monitor_admin  # noqa: F401
from dashboard.schedules import admin as schedules_admin  # noqa: F401
