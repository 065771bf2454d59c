"""Blog: posts, comments, members with email verification, email outbox and comment moderation."""
