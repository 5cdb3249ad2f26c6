"""One module per study kind, each defining `SPEC` (see analytics.studies.base.StudyKind)."""
