"""Ingestion writes, by concern: storage, jobs, processing, catalog mapping, webhooks and the outbox sweep.

Every stored file is parsed fully first (pure, no database), then written in one transaction that also
marks the IngestFile done: a crash or a bad file leaves nothing half-written, and a redelivered task either
finds the file done (and does nothing) or redoes it from scratch.
"""
