"""Scaling-law studies: one module per study kind (analytics.studies.kinds) behind a registry."""
