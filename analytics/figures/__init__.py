"""Plotly figure dicts (pure: fit JSON in, {"data", "layout"} out; no Django): one module per study
kind, the shared style in `common`."""
