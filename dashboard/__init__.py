"""Staff dashboard: live task pages, the moderation queue, schedules, reports and workers."""
