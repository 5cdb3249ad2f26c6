"""The r x epochs surface is drawn only where runs support it: masked outside the runs' hull and far from
every run, nothing for runs on one line; the runs are overlaid and the data's edge dashed."""

from __future__ import annotations

import numpy as np

from analytics.figures.synthetic_ratio import surface_figure
from analytics.fitting.synthetic import support_mask

R_GRID = np.linspace(0.0, 1.0, 11)
E_GRID = np.linspace(1.0, 4.0, 7)


def test_full_grid_of_runs_supports_the_whole_surface() -> None:
    r, e = (x.ravel() for x in np.meshgrid([0.0, 0.5, 1.0], [1.0, 2.5, 4.0]))
    mask, outline = support_mask(r, e, R_GRID, E_GRID)
    assert mask.shape == (7, 11) and mask.all()
    assert outline.shape[0] == 5 and np.array_equal(outline[0], outline[-1])  # closed square


def test_runs_on_one_line_support_no_surface() -> None:
    r = np.linspace(0.0, 1.0, 6)
    mask, outline = support_mask(r, 1.0 + 3.0 * r, R_GRID, E_GRID)  # a diagonal: r and epochs both vary
    assert not mask.any() and outline.size == 0
    mask, _ = support_mask(r, np.full(6, 2.0), R_GRID, E_GRID)  # one epoch count
    assert not mask.any()


def test_cells_outside_the_runs_hull_are_masked() -> None:
    # a triangle: r = 0 at every epoch count, and r = 1 only at 1 epoch
    r = np.array([0.0, 0.0, 0.0, 0.5, 1.0])
    e = np.array([1.0, 2.5, 4.0, 1.0, 1.0])
    mask, _ = support_mask(r, e, R_GRID, E_GRID)
    assert mask[0, 0] and mask[0, -1] and mask[-1, 0]  # corners at runs
    assert not mask[-1, -1]  # r = 1 at 4 epochs: no run anywhere near
    assert 0.3 < mask.mean() < 0.8


def test_figure_overlays_runs_masks_gaps_and_dashes_the_edge() -> None:
    r, e = np.array([0.0, 0.0, 1.0, 0.5]), np.array([1.0, 4.0, 1.0, 2.0])
    mask, outline = support_mask(r, e, R_GRID, E_GRID)
    z = np.where(mask, 1.0, np.nan)
    surface = {
        "n": 1e9, "model": "gp", "r": R_GRID.tolist(), "epochs": E_GRID.tolist(), "z": z.tolist(),
        "supported_fraction": float(mask.mean()), "outline": outline.tolist(),
        "points": [{"run": f"run-{i}", "r": a, "epochs": b, "y": 2.0} for i, (a, b) in enumerate(zip(r, e))],
    }  # fmt: skip
    fig = surface_figure(surface)
    heat, edge, runs = fig["data"]
    assert heat["type"] == "heatmap" and np.isnan(np.asarray(heat["z"], dtype=float)).any()
    assert edge["line"]["dash"] == "dash"
    assert runs["text"] == ["run-0", "run-1", "run-2", "run-3"] and "%{text}" in runs["hovertemplate"]
    surface["supported_fraction"] = 0.0
    assert [t["type"] for t in surface_figure(surface)["data"]] == ["scatter", "scatter"]
    assert "no surface" in surface_figure(surface)["layout"]["title"]["text"]
