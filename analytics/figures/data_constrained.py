"""Data-constrained law: residuals against epochs D/U."""

from __future__ import annotations

from typing import Any

from analytics.figures.common import Figure, residual_figure


def data_constrained_figures(
    params: dict[str, Any], ci: dict[str, Any], residuals: list[dict[str, Any]]
) -> list[Figure]:
    epochs = [r["d"] / r["u"] for r in residuals]
    labels = [r["run"] for r in residuals]
    return [residual_figure(epochs, [r["residual"] for r in residuals], labels, "epochs D / U")]
