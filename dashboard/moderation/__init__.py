"""The moderation queue: held comments, staff decisions, the live queue."""
