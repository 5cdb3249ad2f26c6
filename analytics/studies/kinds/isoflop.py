"""IsoFLOP parabolas (Chinchilla Approach 2): budgets grouped by tolerance in log C (or an explicit budget
label), parabolas over distinct sizes, per-budget optima and N_opt ~ C^a with a bootstrap interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from analytics.figures.isoflop import isoflop_figures
from analytics.fitting import plausibility as pl
from analytics.fitting.isoflop import IsoflopFit
from analytics.models import Study
from analytics.studies.authoring import OptionSpec
from analytics.studies.base import (
    SEED_OPTION,
    FitOutcome,
    StudyKind,
    band_json,
    check_values,
    column,
    intervals_json,
    safe_intervals,
    study_point_row,
    warnings_json,
)
from analytics.studies.points import StudyPoint, study_points

LEVEL = 0.95
EXTRAPOLATE = 100.0
ISOFLOP_BOOTSTRAP = 1000  # residual bootstrap of the whole chain: cheap (vectorised), so the default is high
BIAS_NOTE = (
    "Approach 2's known bias: the loss along an IsoFLOP curve is not a parabola in ln N (it is asymmetric "
    "unless alpha = beta), so each vertex sits off the true optimum by an amount that depends on which "
    "sizes were sampled; when the sampled sizes drift relative to the optimum across budgets the exponent "
    "is pulled towards the drift. The bootstrap interval covers noise, not this bias (Hoffmann et al. "
    "2022; Porian et al. 2024)."
)


def _compute(p: StudyPoint) -> float:
    """A run's own compute 6ND when N and D are known (grouped by tolerance), else its budget."""
    if p.n is not None and p.d is not None and p.n > 0 and p.d > 0 and p.budget_label is None:
        return 6.0 * p.n * p.d
    return float(p.budget)  # type: ignore[arg-type]  # check_values kept only points with a budget


def fit(study: Study, points: Sequence[StudyPoint]) -> FitOutcome:
    total = len(points)
    pts = check_values(points, ("n", "budget", "loss"))
    opts = study.options
    est = IsoflopFit(
        window=int(opts.get("window", 2)),
        budget_tolerance=float(opts.get("budget_tolerance", 0.05)),
        n_bootstrap=int(opts.get("n_bootstrap", ISOFLOP_BOOTSTRAP)),
        random_state=int(opts.get("seed", 0)),
    )
    labels = [p.budget_label for p in pts]
    explicit = all(v is not None for v in labels)
    compute = [float(p.budget) if explicit else _compute(p) for p in pts]  # type: ignore[arg-type]
    n, loss = column(pts, "n"), column(pts, "loss")
    res = est.fit(compute, n, loss, budget=[float(v) for v in labels] if explicit else None).result_  # type: ignore[arg-type]
    intervals, missing = safe_intervals(lambda: res.intervals(LEVEL))
    largest = max(o.compute for o in res.optima)
    derived_iv, _ = safe_intervals(lambda: res.derived(largest, LEVEL))
    n_hat = float(res.n_opt(largest))
    d_hat = largest / (6.0 * n_hat)
    derived_values = (
        intervals_json(derived_iv)
        if derived_iv
        else {
            "n_opt": {"estimate": n_hat, "low": None, "high": None, "level": LEVEL},
            "d_opt": {"estimate": d_hat, "low": None, "high": None, "level": LEVEL},
            "tokens_per_parameter": {"estimate": d_hat / n_hat, "low": None, "high": None, "level": LEVEL},
        }
    )
    warnings = warnings_json(
        res.warnings,
        pl.check_tokens_per_parameter(n_hat, d_hat, compute=largest),
        *(pl.check_interval(k, iv) for k, iv in intervals.items() if k != "n_coef"),
        missing,
    )
    cs = np.array([o.compute for o in res.optima])
    grid = np.logspace(np.log10(cs.min()), np.log10(cs.max() * EXTRAPOLATE), 40)
    bands = {
        "compute": grid.tolist(),
        "data_max": float(cs.max()),
        "confidence": band_json(res.band(grid, LEVEL, "confidence")),
        "prediction": band_json(res.band(grid, LEVEL, "prediction")),
    }
    curves = {c.compute: c for c in res.curves}
    residuals = []
    for p, c_run, budget in zip(pts, compute, res.budget_of_run, strict=True):
        curve = curves.get(float(budget))
        predicted = None
        if curve is not None and curve.coef is not None:
            x = math.log(float(p.n)) - curve.x_ref  # type: ignore[arg-type]
            c0, c1, c2 = curve.coef
            predicted = c0 + c1 * x + c2 * x * x
        residuals.append(
            {
                "run_id": p.run_id,
                "run": p.run_name,
                "n": p.n,
                "compute": c_run,
                "budget": float(budget),
                "observed": p.loss,
                "predicted": predicted,
                # Loss above the budget's parabola (runs of a skipped budget have none).
                "residual": None if predicted is None else float(p.loss) - predicted,  # type: ignore[arg-type]
            }
        )
    params = {
        "n_exponent": res.n_exponent,
        "n_coef": res.n_coef,
        "d_exponent": res.d_exponent,
        "d_coef": res.d_coef,
        "n_budgets": len(res.optima),
        "grouping": "explicit budget labels" if explicit else f"{est.budget_tolerance:g} dex in log10 C",
        "optima": [o.__dict__ for o in res.optima],
        "optima_residuals": res.residuals.tolist(),
        "skipped": {f"{k:g}": v for k, v in res.skipped.items()},
        "curves": [c.to_dict() for c in res.curves],
        "window_exponents": dict(res.window_exponents),
        "notes": [BIAS_NOTE],
    }
    goodness = {
        "r2": res.n_r2,
        "rmse_log": float(np.sqrt(np.mean(res.residuals**2))),
        "n_points": len(pts),
        "n_budgets": len(res.optima),
        "n_excluded": total - len(pts),
    }
    return FitOutcome(
        params,
        {"level": LEVEL, "bootstrap": res.bootstrap.tolist(), "bands": bands},
        residuals,
        goodness,
        intervals=intervals_json(intervals),
        derived=[{"compute": largest, "label": "largest budget in the data", "values": derived_values}],
        warnings=warnings,
    )


SPEC = StudyKind(
    kind="isoflop",
    label="IsoFLOP parabolas (Approach 2)",
    method="isoflop_approach2",
    points=study_points,
    fit=fit,
    figures=isoflop_figures,
    point_row=study_point_row,
    options_help='{"window": 2, "budget_tolerance": 0.05, "n_bootstrap": 1000}',
    options=(
        OptionSpec(
            "window",
            "int",
            "sizes on each side of the minimum",
            2,
            lo=1,
            hi=20,
            help="distinct model sizes each parabola uses on either side of the lowest loss",
        ),
        OptionSpec(
            "budget_tolerance",
            "float",
            "budget grouping tolerance (dex)",
            0.05,
            lo=1e-6,
            hi=1.0,
            help="runs whose log10 compute lies within this of each other form one budget "
            "(ignored when runs carry an explicit flops_budget)",
        ),
        OptionSpec(
            "n_bootstrap",
            "int",
            "bootstrap replicates",
            ISOFLOP_BOOTSTRAP,
            lo=0,
            hi=5000,
            help="residual bootstrap of the exponent; 0 for none",
        ),
        SEED_OPTION,
    ),
    needs=lambda options: ("n", "budget", "loss"),
)
