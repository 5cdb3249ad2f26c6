"""Shared infrastructure that every app uses and that imports no app: roles and team-scoped querysets,
auth helpers, the outbox publisher, the task policy, liveness and test-only fault hooks."""
