"""The email outbox as staff see it."""
