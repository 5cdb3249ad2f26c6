"""Synthetic-data ratio studies: the best synthetic share r* per model size (exp mixing law, ridge
polynomial or GP chosen by CV, bootstrap CI), r* vs N, the r x epochs surface, knowledge vs reasoning."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from analytics.figures.synthetic_ratio import synthetic_figures
from analytics.fitting import plausibility as pl
from analytics.fitting import synthetic as syn
from analytics.fitting.errors import FitError
from analytics.models import Study
from analytics.studies.authoring import OptionSpec
from analytics.studies.base import (
    BOOTSTRAP_OPTION,
    DEFAULT_BOOTSTRAP,
    SEED_OPTION,
    FitOutcome,
    StudyKind,
    warnings_json,
)
from analytics.studies.points import SyntheticPoint, synthetic_points

R_GRID = np.linspace(0.0, 1.0, 101)


def _synthetic_candidates(study: Study) -> dict[str, Any]:
    """options.models picks among the CV candidates (default: exp mixing law, ridge polynomial, GP)."""
    every = syn.default_candidates()
    names = study.options.get("models")
    if names is None:
        return every
    unknown = sorted(set(names) - set(every)) if isinstance(names, list) else [names]
    if unknown or not names:
        raise FitError(f"synthetic_ratio option 'models' must be a non-empty subset of {sorted(every)}")
    return {n: every[n] for n in names}


def _check_synthetic(points: Sequence[SyntheticPoint]) -> list[SyntheticPoint]:
    """Runs lacking N, r or the target are left out; an impossible value stops the fit naming the run."""
    usable = []
    for p in points:
        where = f"run '{p.run_name}' (id {p.run_id})"
        for name, value in (("synthetic_epochs", p.epochs), *((k, v) for k, v in p.benchmarks)):
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise FitError(f"{where}: {name} must be a finite number, got {value!r}")
        if p.n is None or p.r is None or p.loss is None:
            continue
        if not 0.0 <= p.r <= 1.0:
            raise FitError(f"{where}: synthetic_share must be in [0, 1], got {p.r!r}")
        if not (math.isfinite(p.loss) and math.isfinite(p.n) and p.n > 0):
            raise FitError(
                f"{where}: parameters must be > 0 and the target finite (N={p.n!r}, loss={p.loss!r})"
            )
        usable.append(p)
    return usable


def _ratio_fit(
    r: list[float], y: list[float], candidates: dict[str, Any], *, n_boot: int, seed: int, minimize: bool
) -> dict[str, Any]:
    sel = syn.select_model(r, y, candidates=candidates)
    ci = syn.optimal_ratio_ci(
        r,
        y,
        n_boot=n_boot,
        seed=seed,
        minimize=minimize,
        candidates={sel.best_name: candidates[sel.best_name]},
    )
    return {
        "model": sel.best_name,
        "cv_rmse": {k: (v if math.isfinite(v) else None) for k, v in sel.cv_rmse.items()},
        "cv_scheme": sel.cv_scheme,
        "r_star": ci.r_star,
        "r_star_low": ci.lo,
        "r_star_high": ci.hi,
        "n_bootstrap": ci.n_boot,
        "n_degenerate": ci.n_failed,
        "curve": [float(v) for v in sel.best_model.predict(R_GRID.reshape(-1, 1))],
        "_model": sel.best_model,
    }


def _benchmark_split(pts: list[SyntheticPoint], candidates: dict[str, Any], n_boot: int, seed: int) -> dict:
    """Knowledge-heavy vs reasoning benchmarks (Phi-4, arXiv:2412.08905 Sec. 3) at the largest scored N."""
    with_scores = [p for p in pts if p.benchmarks]
    if not with_scores:
        return {}
    size = max(p.n for p in with_scores if p.n is not None)
    at = [p for p in with_scores if p.n == size]
    ignored = sorted({k for p in at for k, _ in p.benchmarks if _category(k) is None})
    ratios = sorted({p.r for p in at if p.r is not None})
    out: dict[str, Any] = {"n": size, "ignored": ignored, "deltas": {}, "category_means": {}, "r_star": {}}
    if len(ratios) < 2:
        out["note"] = "benchmark deltas need runs at 2 or more synthetic shares"
        return out
    lo_r, hi_r = ratios[0], ratios[-1]
    names = sorted({k for p in at for k, _ in p.benchmarks} - set(ignored))
    for name in names:
        low = [dict(p.benchmarks)[name] for p in at if p.r == lo_r and name in dict(p.benchmarks)]
        high = [dict(p.benchmarks)[name] for p in at if p.r == hi_r and name in dict(p.benchmarks)]
        if low and high:
            out["deltas"][name] = float(np.mean(high) - np.mean(low))
    out.update(r_low=lo_r, r_high=hi_r)
    if out["deltas"]:
        out["category_means"] = syn.category_means(out["deltas"])
    for category in ("knowledge", "reasoning"):
        rs, ys = [], []
        for p in at:
            scores = [v for k, v in p.benchmarks if _category(k) == category]
            if scores and p.r is not None:
                rs.append(p.r)
                ys.append(float(np.mean(scores)))
        if len(set(rs)) >= syn.MIN_DISTINCT_RATIOS:
            fit = _ratio_fit(rs, ys, candidates, n_boot=n_boot, seed=seed, minimize=False)
            fit.pop("_model")
            out["r_star"][category] = fit
    return out


def _category(benchmark: str) -> str | None:
    try:
        category = syn.benchmark_category(benchmark)
    except syn.FitError:
        return None
    return None if category == "loss" else category


def _fit_synthetic(study: Study, points: Sequence[SyntheticPoint], total: int) -> FitOutcome:
    pts = _check_synthetic(points)
    candidates = _synthetic_candidates(study)
    n_boot = int(study.options.get("n_bootstrap", DEFAULT_BOOTSTRAP))
    seed = int(study.options.get("seed", 0))
    minimize = bool(study.options.get("minimize", True))  # loss by default; False for an accuracy target
    by_size: dict[float, list[SyntheticPoint]] = {}
    for p in pts:
        by_size.setdefault(float(p.n), []).append(p)  # type: ignore[arg-type]
    per_size, skipped, models = [], {}, {}
    for size in sorted(by_size):
        group = by_size[size]
        distinct = len({p.r for p in group})
        if distinct < syn.MIN_DISTINCT_RATIOS:
            skipped[f"{size:g}"] = f"{distinct} distinct synthetic shares (need {syn.MIN_DISTINCT_RATIOS})"
            continue
        fit = _ratio_fit(
            [_num(p.r) for p in group],
            [_num(p.loss) for p in group],
            candidates,
            n_boot=n_boot,
            seed=seed,
            minimize=minimize,
        )
        models[size] = fit.pop("_model")
        per_size.append({"n": size, "n_points": len(group), **fit})
    if not per_size:
        reason = (
            f"no model size has runs at {syn.MIN_DISTINCT_RATIOS} or more distinct synthetic shares "
            f"({len(pts)} usable runs; per size: {skipped or 'none'})"
        )
        bench = _benchmark_split(pts, candidates, n_boot, seed)
        if not bench.get("deltas"):
            raise FitError(reason)
        # Two shares cannot locate an optimum r*, but the benchmark deltas between them still say which
        # abilities synthetic data helps (Phi-4 Table 3): keep that, and say why r* is missing.
        params_only: dict[str, Any] = {
            "r_star": None,
            "minimize": minimize,
            "per_size": [],
            "skipped": skipped,
        }
        params_only["benchmarks"] = bench
        params_only["r_star_missing"] = reason
        return FitOutcome(params_only, {}, [], {"n_points": len(pts), "n_excluded": total - len(pts)})
    primary = per_size[-1]
    residuals, obs, pred = [], [], []
    for row in per_size:
        for p in by_size[row["n"]]:
            predicted = float(models[row["n"]].predict(np.array([[p.r]]))[0])
            residuals.append(
                {
                    "run_id": p.run_id,
                    "run": p.run_name,
                    "n": p.n,
                    "r": p.r,
                    "epochs": p.epochs,
                    "sources": list(p.sources),
                    "observed": p.loss,
                    "predicted": predicted,
                    "residual": predicted - p.loss,  # type: ignore[operator]
                }
            )
            obs.append(p.loss)
            pred.append(predicted)
    o, q = np.array(obs, dtype=float), np.array(pred, dtype=float)
    ss_tot = float(np.sum((o - o.mean()) ** 2))
    goodness: dict[str, Any] = {
        "r2": 1.0 - float(np.sum((q - o) ** 2)) / ss_tot if ss_tot > 0 else 1.0,
        "rmse": float(np.sqrt(np.mean((q - o) ** 2))),
        "n_points": len(o),
        "n_excluded": total - len(o),
    }
    if np.all(o > 0) and np.all(q > 0):
        goodness["rmse_log"] = float(np.sqrt(np.mean((np.log(q) - np.log(o)) ** 2)))
    params: dict[str, Any] = {
        "model": primary["model"],
        "n": primary["n"],
        "r_star": primary["r_star"],
        "r_star_low": primary["r_star_low"],
        "r_star_high": primary["r_star_high"],
        "cv_scheme": primary["cv_scheme"],
        "minimize": minimize,
        "r_grid": R_GRID.tolist(),
        "per_size": per_size,
        "skipped": skipped,
    }
    surface = _surface(per_size, by_size)
    if surface:
        params["heatmap"] = surface
    bench = _benchmark_split(pts, candidates, n_boot, seed)
    if bench:
        params["benchmarks"] = bench
    ci = {
        "level": 0.95,
        "params": {"r_star": [primary["r_star_low"], primary["r_star_high"]]},
        "r_star_by_size": [
            [row["n"], row["r_star"], row["r_star_low"], row["r_star_high"]] for row in per_size
        ],
    }
    intervals: dict[str, Any] = {}
    warnings: list[pl.FitWarning] = []
    for row in per_size:
        shares = [_num(p.r) for p in by_size[row["n"]]]
        key = "r_star" if row is primary else f"r_star at N={row['n']:.3g}"
        intervals[key] = {
            "estimate": row["r_star"],
            "low": row["r_star_low"],
            "high": row["r_star_high"],
            "level": 0.95,
            "method": "bootstrap percentile",
            "bounded": True,
        }
        # an optimum on the edge of the shares sampled at this size is not located by the data
        warnings += pl.check_at_bound(f"r* at N={row['n']:.3g}", row["r_star"], min(shares), max(shares))
    if len(per_size) < 2:
        warnings += pl.check_distinct("model sizes", [row["n"] for row in per_size], 2, what="r* against N")
    if surface and not surface.get("supported_fraction"):
        warnings.append(pl.FitWarning("too_few_distinct", surface["note"], "info"))
    return FitOutcome(params, ci, residuals, goodness, intervals=intervals, warnings=warnings_json(warnings))


def _surface(per_size: list[dict[str, Any]], by_size: dict[float, list[SyntheticPoint]]) -> dict[str, Any]:
    """r x epochs surface at the fitted size with the most runs, when its epochs vary: the runs themselves
    (drawn over it), and the surface masked (null) where no run supports it (outside the runs' hull or far
    from every run); runs all on one line support none, and then only the runs are drawn."""
    sizes = [row["n"] for row in per_size if len({p.epochs for p in by_size[row["n"]]}) >= 2]
    if not sizes:
        return {}
    size = max(sizes, key=lambda n: (len(by_size[n]), n))
    group = by_size[size]
    rs, es = [_num(p.r) for p in group], [float(p.epochs) for p in group]
    hm = syn.heatmap(rs, es, [_num(p.loss) for p in group])
    mask, outline = syn.support_mask(rs, es, hm.r_grid, hm.epochs_grid)
    z = np.where(mask, hm.z, np.nan)
    out: dict[str, Any] = {
        "n": size,
        "model": hm.model_name,
        "r": hm.r_grid.tolist(),
        "epochs": hm.epochs_grid.tolist(),
        "z": z.tolist(),
        "supported_fraction": float(mask.mean()),
        "outline": outline.tolist(),
        "points": [{"run": p.run_name, "r": p.r, "epochs": p.epochs, "y": p.loss} for p in group],
    }
    if not mask.any():
        out["note"] = (
            "the runs lie on one line in (synthetic share, epochs): they support no surface, so none is drawn"
        )
    return out


def _num(value: float | None) -> float:
    """A value `_check_synthetic` guaranteed to be present."""
    if value is None:
        raise FitError("a synthetic-ratio point lost a value it was checked to have")
    return float(value)


def fit(study: Study, points: Sequence[SyntheticPoint]) -> FitOutcome:
    try:
        return _fit_synthetic(study, points, len(points))
    except syn.FitError as exc:  # the synthetic fitters have their own FitError class
        raise FitError(str(exc)) from exc


def point_row(p: SyntheticPoint) -> list[Any]:
    return [p.run_id, p.n, p.r, p.epochs, list(p.sources), p.loss, [list(b) for b in p.benchmarks]]


SPEC = StudyKind(
    kind="synthetic_ratio",
    label="Synthetic-data ratio",
    method="synthetic_ratio",
    points=synthetic_points,
    fit=fit,
    figures=synthetic_figures,
    point_row=point_row,
    template="analytics/kinds/synthetic_ratio.html",
    options_help='{"models": ["exp_law", "ridge_poly", "gp"], "n_bootstrap": 100, "minimize": true}',
    options=(
        OptionSpec(
            "models",
            "choices",
            "candidate models (chosen by CV)",
            choices=tuple(syn.default_candidates()),
            help="left empty: all of them",
        ),
        BOOTSTRAP_OPTION,
        SEED_OPTION,
        OptionSpec(
            "minimize",
            "bool",
            "lower target is better",
            True,
            help="yes for a loss; no for an accuracy or benchmark score",
        ),
    ),
    needs=lambda options: ("n", "r", "loss"),
)
