"""The task monitor: the filtered task list, one task's page, retry/revoke/terminate (one or many), and the clean-up of old results."""
