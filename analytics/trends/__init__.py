"""Trends over the catalog: training compute of released models over time (the timeline page)."""
