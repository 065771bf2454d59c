"""The JSON API (/api/): tasks, workers, queues, schedules, reports, a progress stream, and tokens."""
